#!/usr/bin/env bash
# Runs every test hostwatch has, on a fresh Debian machine as on a developer's.
# Installs what the tests need when it is missing (real components, not mocks):
#   promtool (package `prometheus`) judges the /metrics exposition format;
#   chromium + chromium-driver run the dashboard's browser tests (crates/cli/tests/it/browser.rs).
# Then: formatting, lints, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
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
