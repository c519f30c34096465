#!/bin/sh
# Makes the MQTT credentials of a pdm fleet for Mosquitto (mosquitto.conf, acl):
#
#   make-credentials.sh <dir> <user>...
#
# For each user (pdm-controller, pdm-controller-2 for the controller instances; a deviceId for each
# device), writes <dir>/<user>.password (mode 0600: the agent's link.passwordFile, the controller's
# brokerPasswordFile) unless it exists, then rebuilds <dir>/passwd, hashed, from every
# <dir>/*.password. Existing passwords are kept, so enrolling a device changes no one else's.
# Passwords never appear on a command line: mosquitto_passwd -U hashes a plain "user:password" file.
# The names pdm-controller* are the controller's (acl): never give a device one of them.
# To revoke a device: delete <dir>/<deviceId>.password, run this script again with any user that
# stays, and send mosquitto SIGHUP to read the new passwd (test/packaging/mosquitto-acl.test.ts). New
# logins are refused from then on; restart the broker if a connection it already holds must end now.
set -eu

[ $# -ge 2 ] || { echo "usage: make-credentials.sh <dir> <user>..." >&2; exit 2; }
dir=$1
shift
command -v mosquitto_passwd >/dev/null 2>&1 || { echo "make-credentials.sh: mosquitto_passwd not found (Debian: apt-get install mosquitto)" >&2; exit 1; }
mkdir -p "$dir"
umask 077

for user in "$@"; do
  # deviceIds are topic levels (protocol DEVICE_ID_PATTERN): no wildcards, separators or ":"
  if ! printf '%s' "$user" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'; then
    echo "make-credentials.sh: \"$user\" is not a valid deviceId or user name" >&2
    exit 2
  fi
  if [ ! -f "$dir/$user.password" ]; then
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$dir/$user.password"
    echo "make-credentials.sh: new password for $user in $dir/$user.password"
  fi
done

plain="$dir/.passwd.$$"
: >"$plain"
for file in "$dir"/*.password; do
  user=$(basename "$file" .password)
  printf '%s:%s\n' "$user" "$(cat "$file")" >>"$plain"
done
mosquitto_passwd -U "$plain"
# the broker reads it, possibly after dropping to its own user
chmod 0640 "$plain"
if id mosquitto >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then chown mosquitto:mosquitto "$plain"; fi
mv "$plain" "$dir/passwd"
echo "make-credentials.sh: $dir/passwd holds $(wc -l <"$dir/passwd") users"
