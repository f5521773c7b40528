#!/usr/bin/env bash
# Ensure the Debian packages the tests and the demo run privately are installed:
#   mosquitto  MQTT broker      (infra/local starts a private instance on a free port)
#   mosquitto-clients  mosquitto_sub/mosquitto_pub, to watch the broker by hand
#   influxdb   InfluxDB 1.x     (likewise)
#   postgresql-15  PostgreSQL (likewise, from /usr/lib/postgresql/15/bin: the maintenance,
#              API and web suites run on it as well as on SQLite)
#   socat      virtual serial pairs for the Modbus RTU tests
#   chromium, fonts-noto-cjk  the browser tests (Playwright drives Debian's chromium;
#              its own browser download is not used) and Chinese text in their screenshots
#   libpango-1.0-0, libpangoft2-1.0-0, libharfbuzz-subset0  WeasyPrint's text layout
#              (the committee's monthly report as a PDF, with fonts-noto-cjk for Chinese)
#   curl       the demo's printed lines and the README's examples (the demo's e2e test
#              runs them)
#   nodejs, npm  only when there is no npm command: `npm ci` installs the web app's
#              front-end packages (package-lock.json). A machine with nodesource's nodejs
#              has npm inside it, and Debian's npm package would conflict with that.
#
# Quiet when everything is present. Installing Debian's mosquitto/influxdb/postgresql would normally
# start system-wide daemons on the default ports; we only want the binaries, so the
# install runs behind a policy-rc.d that forbids service starts, and any daemon the
# install still managed to start is stopped afterwards.
set -euo pipefail

PACKAGES=(mosquitto mosquitto-clients influxdb postgresql-15 socat chromium fonts-noto-cjk
          libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 curl)
if ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
fi
DAEMONS=(mosquitto influxd postgres)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "estatewatch needs the Debian packages: ${missing[*]}." \
        "Install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

# PIDs of the daemons already running before the install belong to someone else and are
# never touched; only ones that appear during the install are ours to stop.
daemon_pids() {
    local name
    for name in "${DAEMONS[@]}"; do
        pgrep -x "$name" || true
    done | sort  # comm needs lexical order
}
before=$(daemon_pids)

POLICY=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
    if [[ $created_policy -eq 1 ]]; then
        "${SUDO[@]}" rm -f "$POLICY"
    fi
}
trap cleanup EXIT
if [[ ! -e "$POLICY" ]]; then
    # Exit status 101 means "action forbidden": invoke-rc.d and deb-systemd-invoke then
    # skip starting the services the packages ship.
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    created_policy=1
fi

echo "Installing Debian packages: ${missing[*]}" >&2
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"

after=$(daemon_pids)
started=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
if [[ -n "$started" ]]; then
    echo "Stopping system daemons started by the package install: $(echo "$started" | tr '\n' ' ')" >&2
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        "${SUDO[@]}" systemctl stop mosquitto.service influxdb.service postgresql.service \
            2>/dev/null || true
    fi
    for pid in $started; do
        "${SUDO[@]}" kill -TERM "$pid" 2>/dev/null || true
    done
fi
