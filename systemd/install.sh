#!/usr/bin/env bash
# Install cryoctl from this checkout onto a device (Raspberry Pi OS / Debian 12).
#
#   sudo systemd/install.sh              # packages, venv, units, users, udev rule
#   sudo systemd/install.sh --kiosk      # also cage + Chromium and the kiosk's user
#   systemd/install.sh --root /tmp/r --no-apt --no-systemctl --no-pip   # files only
#
# Safe to run again (an upgrade is the same command): files are rewritten only when
# their content differs, and an existing /etc/cryoctl/cryoctl.toml is never touched.
# It enables and starts nothing; the next steps are printed at the end.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: install.sh [OPTIONS]

  --root DIR        install under DIR instead of / (for tests and images);
                    apt, systemctl and friends are then skipped
  --unit-dir DIR    where the unit files go (default /etc/systemd/system;
                    /usr/lib/systemd/system for a packaged install)
  --no-apt          do not install Debian packages
  --no-systemctl    do not run systemd-sysusers, systemd-tmpfiles, udevadm or
                    systemctl daemon-reload
  --no-pip          no venv and no pip install: only lay the files
  --kiosk           also cage and chromium, and the kiosk's user
  --dev-tools       also socat (serial links over ptys, for simulators)
  -h, --help        this text
EOF
}

ROOT=/
UNIT_DIR=/etc/systemd/system
APT=1
SYSTEMCTL=1
PIP=1
KIOSK=0
DEV_TOOLS=0

while (($# > 0)); do
    case "$1" in
        --root)
            [[ $# -ge 2 ]] || { echo "install.sh: --root needs a directory" >&2; exit 2; }
            ROOT=$2
            shift 2
            ;;
        --root=*) ROOT=${1#--root=}; shift ;;
        --unit-dir)
            [[ $# -ge 2 ]] || { echo "install.sh: --unit-dir needs a directory" >&2; exit 2; }
            UNIT_DIR=$2
            shift 2
            ;;
        --unit-dir=*) UNIT_DIR=${1#--unit-dir=}; shift ;;
        --no-apt) APT=0; shift ;;
        --no-systemctl) SYSTEMCTL=0; shift ;;
        --no-pip) PIP=0; shift ;;
        --kiosk) KIOSK=1; shift ;;
        --dev-tools) DEV_TOOLS=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

case "$UNIT_DIR" in
    /*) ;;
    *) echo "install.sh: --unit-dir must be an absolute path" >&2; exit 2 ;;
esac

# The checkout: this script lives in its systemd/ folder.
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
CHECKOUT=$(dirname -- "$HERE")
ROOT=$(mkdir -p -- "$ROOT" && cd -- "$ROOT" && pwd)
# Paths below are written as "$R/etc/...": R is empty for the real root.
R=${ROOT%/}
ON_HOST=0
[[ -z "$R" ]] && ON_HOST=1

VENV=/opt/cryoctl/venv

say() { printf '%s\n' "$*"; }

# Copy SRC to DEST (under the root) with MODE, only when the content or mode
# differs, so a second run changes nothing, not even a file's time.
lay() {
    local src=$1 dest=$R$2 mode=$3
    if [[ -f "$dest" ]] && cmp -s -- "$src" "$dest"; then
        if [[ "$(stat -c '%a' -- "$dest")" != "${mode#0}" ]]; then
            chmod "$mode" -- "$dest"
            say "  mode     $2"
        else
            say "  same     $2"
        fi
        return
    fi
    install -D -m "$mode" -- "$src" "$dest"
    say "  written  $2"
}

# -- Debian packages -----------------------------------------------------------------
if ((APT)) && ((ON_HOST)); then
    packages=(python3-venv)
    ((KIOSK)) && packages+=(cage chromium)
    ((DEV_TOOLS)) && packages+=(socat)
    say "Debian packages: ${packages[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
elif ((APT)); then
    say "Debian packages: skipped (--root $ROOT)"
fi

# -- the virtual environment -----------------------------------------------------------
if ((PIP)); then
    python3 - <<'EOF' || { echo "install.sh: cryoctl needs Python 3.11 or newer" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
EOF
    if [[ ! -x "$R$VENV/bin/python" ]]; then
        say "venv: creating $VENV"
        mkdir -p -- "$R$(dirname -- "$VENV")"
        python3 -m venv -- "$R$VENV"
    fi
    say "venv: installing cryoctl from $CHECKOUT (the versions in constraints.txt)"
    "$R$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
        --constraint "$CHECKOUT/constraints.txt" -- "$CHECKOUT"
fi

# -- files -----------------------------------------------------------------------------
say "files:"
for unit in cryoctl.service cryoctl-panel.service cryoctl-kiosk.service; do
    lay "$HERE/$unit" "$UNIT_DIR/$unit" 0644
done
lay "$HERE/cryoctl.sysusers.conf" /usr/lib/sysusers.d/cryoctl.conf 0644
((KIOSK)) && lay "$HERE/cryoctl-kiosk.sysusers.conf" /usr/lib/sysusers.d/cryoctl-kiosk.conf 0644
lay "$HERE/cryoctl.tmpfiles.conf" /usr/lib/tmpfiles.d/cryoctl.conf 0644
lay "$HERE/99-cryo-unit.rules" /etc/udev/rules.d/99-cryo-unit.rules 0644

# -- users, directories, udev, systemd ------------------------------------------------
if ((SYSTEMCTL)) && ((ON_HOST)); then
    say "systemd: users, directories, udev rules, unit files"
    systemd-sysusers
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/cryoctl.conf
    udevadm control --reload
    udevadm trigger --subsystem-match=tty --action=add
    systemctl daemon-reload
elif ((SYSTEMCTL)); then
    say "systemd: skipped (--root $ROOT)"
fi

# -- the config: the annotated example, once; never over an existing one ---------------
CONFIG=/etc/cryoctl/cryoctl.toml
[[ -d "$R/etc/cryoctl" ]] || install -d -m 0750 -- "$R/etc/cryoctl"
if [[ -e "$R$CONFIG" ]]; then
    say "config: $CONFIG exists, left as it is"
else
    install -m 0640 -- "$HERE/cryoctl.example.toml" "$R$CONFIG"
    say "config: $CONFIG written from the example; edit [unit] before the first start"
fi
# root writes it, the services (group cryoctl) read it; the group exists once
# systemd-sysusers ran (at boot, systemd-tmpfiles sets the same).
if ((ON_HOST)) && getent group cryoctl >/dev/null; then
    chgrp cryoctl -- "$R/etc/cryoctl" "$R$CONFIG"
    chmod 0750 -- "$R/etc/cryoctl"
    chmod 0640 -- "$R$CONFIG"
fi

cat <<EOF

Installed. Next steps:
  1. PIN hashes for the panel (run twice: staff, then technician):
       $VENV/bin/cryoctl pin hash
  2. Edit $CONFIG: [unit] kind and url, the hashes under [auth]
     (systemd/cryoctl.example.toml explains every key).
  3. Technicians on the control socket:  usermod -aG cryoctl,cryoctl-tech NAME
  4. Start it, now and at every boot:
       systemctl enable --now cryoctl cryoctl-panel
  5. Watch it:
       systemctl status cryoctl
       journalctl -u cryoctl -f
EOF
if ((KIOSK)); then
    cat <<'EOF'
  6. The kiosk (an example, see its unit file):
       systemctl set-default graphical.target
       systemctl enable --now cryoctl-kiosk
EOF
fi
