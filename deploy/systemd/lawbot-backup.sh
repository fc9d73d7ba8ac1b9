#!/bin/sh
# Dump the lawbot database (pg_dump custom format), check that the dump reads back, keep
# $LAWBOT_BACKUP_KEEP_DAYS days of dumps. Connection: libpq's PG* variables, or a URL as the
# database name. Restore drill: deploy/README.md.
set -eu

database=${LAWBOT_BACKUP_DATABASE:-lawbot}
dir=${LAWBOT_BACKUP_DIR:-/var/backups/lawbot}
keep=${LAWBOT_BACKUP_KEEP_DAYS:-14}

umask 077
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
partial="$dir/.lawbot-$stamp.dump.partial"
trap 'rm -f "$partial"' EXIT

pg_dump --format=custom --no-owner --no-privileges --file="$partial" --dbname="$database"
pg_restore --list "$partial" >/dev/null  # a truncated or corrupt dump fails here, not at restore
mv "$partial" "$dir/lawbot-$stamp.dump"
find "$dir" -maxdepth 1 -name 'lawbot-*.dump' -mtime +"$keep" -delete
echo "backup written: $dir/lawbot-$stamp.dump"
