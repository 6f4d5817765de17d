#!/usr/bin/env bash
# Install dmsd as a systemd service from this checkout: run as root on the Pi or in-vehicle PC.
#   sudo systemd/install.sh            # installs to /opt/dmsd, config in /etc/dmsd, starts the service
# Re-running it upgrades the code and models and keeps /etc/dmsd/config.yaml as it is.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo systemd/install.sh)" >&2; exit 1; }
here="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/opt/dmsd

id dmsd >/dev/null 2>&1 || useradd --system --no-create-home --home-dir "$prefix" --shell /usr/sbin/nologin dmsd
usermod -a -G video dmsd

mkdir -p "$prefix"
# The runtime only: the package, its models, the samples and the docs (no training code or tests).
cp -r "$here/dmsd" "$here/models" "$here/samples" "$here/pyproject.toml" "$here/README.md" "$here/config.yaml" "$prefix/"
python3 -m venv "$prefix/.venv"
"$prefix/.venv/bin/pip" install -q --upgrade pip
"$prefix/.venv/bin/pip" install -q "$prefix"

mkdir -p /etc/dmsd
if [ ! -f /etc/dmsd/config.yaml ]; then
    sed "s|^  dir: models|  dir: $prefix/models|" "$here/config.yaml" > /etc/dmsd/config.yaml
fi
touch /etc/dmsd/dmsd.env
chmod 600 /etc/dmsd/dmsd.env
chown -R root:root "$prefix" /etc/dmsd

install -m 644 "$here/systemd/dmsd.service" /etc/systemd/system/dmsd.service
systemctl daemon-reload
systemctl enable --now dmsd.service
echo "dmsd installed. Edit /etc/dmsd/config.yaml (mqtt.host, source.uri), then: systemctl restart dmsd"
echo "Logs: journalctl -u dmsd -f"
