-- 0003: packs (filespace format 4): neighbouring blocks of one commit uploaded as one
-- object.  A block in a pack names it (pack: the pack's id) and where it starts in it;
-- pack is NULL for a block that is its own object.  A pack becomes garbage (a garbage
-- row with pack = 1, id = the pack's id) when the last block naming it goes; until then
-- the blocks that went before it are only forgotten.

ALTER TABLE blocks ADD COLUMN pack {blob};
ALTER TABLE blocks ADD COLUMN pack_offset {int} NOT NULL DEFAULT 0;
CREATE INDEX blocks_by_pack ON blocks (pack) WHERE pack IS NOT NULL;
ALTER TABLE garbage ADD COLUMN pack {int} NOT NULL DEFAULT 0;
