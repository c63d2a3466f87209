#!/usr/bin/env bash
# Runs every test hostwatch has, on a fresh Debian machine as on a developer's.
# Installs what the tests need when it is missing (real components, not mocks):
#   promtool (package `prometheus`) judges the /metrics exposition format.
#   mosquitto (package `mosquitto`) is the MQTT broker the MQTT sink and Home Assistant tests talk to.
#   monitoring-plugins: the real Nagios plugins the checks are tested against.
#   python3-aiosmtpd is the SMTP server the hub's email notification tests send to.
#   chromium + chromium-driver run the dashboard's browser tests (crates/cli/tests/it/browser.rs).
# Then: formatting, lints, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
[ -x /usr/lib/nagios/plugins/check_dummy ] || need+=(monitoring-plugins)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if ((${#need[@]})); then
    echo "== installing test dependencies: ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo clippy, agent-only binary (--no-default-features)"
cargo clippy -p hostwatch --no-default-features --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --all-targets --locked
