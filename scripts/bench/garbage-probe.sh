#!/bin/sh
# A probe gone wrong, for the flood step of `npm run bench` (scripts/bench/live.ts): writes lines
# of invalid UTF-8 and lines of broken JSON, never a valid event, as fast as `yes` can (hundreds
# of MB/s when the pipe is read). exec: the exporter's SIGTERM reaches the writer itself.
exec yes "$(printf '\377\376 not UTF-8 \200\201\n{"ts": 1732500000000, "event_type": "compute.util", "entity_id": \n[1,2')"
