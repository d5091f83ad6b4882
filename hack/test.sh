#!/usr/bin/env bash
# `make test`: start the services that are not already running, run formatting and lint
# checks and every test in the workspace, then stop what this script started, pass or fail.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_DIR"

stop_started_services_on_exit

t0=$SECONDS
step "services"
for s in kafka s3 moto kube; do
  ensure_service "$s"
done
eval "$("$HACK_DIR/services.sh" env)"

# The chart tests (operator/tests/helm_*.rs) run helm, built from its Go module once.
step "helm"
"$HACK_DIR/helm.sh" fetch
eval "$("$HACK_DIR/helm.sh" env)"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked --no-fail-fast

say "make test: all checks passed in $((SECONDS - t0))s"
