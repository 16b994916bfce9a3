#!/usr/bin/env bash
# The cron equivalent of the systemd timers (the seed's maintenance-cron-setup.sh):
# daily maintenance at 02:00, weekly on Sundays at 03:00, logs rotated by
# logrotate. Idempotent: re-running replaces Switchyard's lines only.
# Usage: SWITCHYARD_DATABASE_URL=postgres://... deploy/cron/maintenance-cron-setup.sh
set -euo pipefail
: "${SWITCHYARD_DATABASE_URL:?set SWITCHYARD_DATABASE_URL}"
BIN="${SWITCHYARD_BIN:-$(command -v switchyard || echo /usr/local/bin/switchyard)}"
LOG_DIR="${SWITCHYARD_LOG_DIR:-/var/log/switchyard}"
mkdir -p "$LOG_DIR"
marker="# switchyard-maintenance"
new_lines=$(cat <<CRON
0 2 * * * SWITCHYARD_DATABASE_URL='$SWITCHYARD_DATABASE_URL' $BIN maintain daily >> $LOG_DIR/maintain-daily.log 2>&1 $marker
0 3 * * 0 SWITCHYARD_DATABASE_URL='$SWITCHYARD_DATABASE_URL' $BIN maintain weekly >> $LOG_DIR/maintain-weekly.log 2>&1 $marker
CRON
)
{ crontab -l 2>/dev/null | grep -v "$marker" || true; echo "$new_lines"; } | crontab -
if [ -d /etc/logrotate.d ] && [ -w /etc/logrotate.d ]; then
  cat > /etc/logrotate.d/switchyard <<ROTATE
$LOG_DIR/*.log {
  weekly
  rotate 8
  compress
  missingok
  notifempty
}
ROTATE
fi
echo "installed:"; crontab -l | grep "$marker"
