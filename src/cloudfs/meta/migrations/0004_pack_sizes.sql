-- 0004: what live packs hold.  packs: one row per pack some block map still names, with
-- the pack object's size (its blocks and the zeros between them).  counters.dead_bytes:
-- the bytes of live packs that no block map references (blocks rewritten or deleted
-- since, and the padding between blocks): storage the collector cannot free until the
-- pack's last block goes.  A pack's garbage row takes the pack's size from here.
--
-- The backfill knows a pack only by the blocks still naming it, so a pack whose last
-- blocks went before this step is recorded as ending where its last named block ends.

CREATE TABLE packs (
    id {blob} PRIMARY KEY,
    stored {int} NOT NULL
);
INSERT INTO packs (id, stored)
    SELECT pack, max(pack_offset + stored) FROM blocks WHERE pack IS NOT NULL GROUP BY pack;
ALTER TABLE counters ADD COLUMN dead_bytes {int} NOT NULL DEFAULT 0;
UPDATE counters SET dead_bytes =
    (SELECT coalesce(sum(stored), 0) FROM packs)
    - (SELECT coalesce(sum(stored), 0) FROM blocks WHERE pack IS NOT NULL)
    WHERE id = 1;
