#!/bin/bash
# Times two commits' test builds side by side (README, "One test binary, measured"):
# a clean `cargo test --no-run`, a full `cargo test` on SQLite, and a one-line change in
# src/ rebuilt with one test run. Each commit builds in a worktree of its own with an
# empty target directory, one after the other; run it on an otherwise idle machine.
#
#   scripts/measure-test-build.sh OLD NEW OLD_ONE_TEST NEW_ONE_TEST
#   scripts/measure-test-build.sh 7e08f26^ 9f809b6 \
#     "--test exchange agreements_carry_quotas" "--test api exchange::agreements_carry_quotas"
set -u
old=$1 new=$2 old_one=$3 new_one=$4
work=$(mktemp -d)
repo=$(git rev-parse --show-toplevel)
git -C "$repo" worktree add -q --detach "$work/old" "$old"
git -C "$repo" worktree add -q --detach "$work/new" "$new"
t() {
  local s=$(date +%s.%N)
  "$@" > /dev/null 2>&1
  local rc=$?
  echo "$(echo "$(date +%s.%N) - $s" | bc) s (exit $rc)"
}
for v in old new; do
  (cd "$work/$v" && CARGO_TARGET_DIR="$work/target-$v" && export CARGO_TARGET_DIR &&
    echo "$v clean no-run: $(t cargo test --no-run)")
done
for v in old new; do
  (cd "$work/$v" && export CARGO_TARGET_DIR="$work/target-$v" &&
    echo "$v full test (SQLite): $(t cargo test)")
done
for v in old new; do
  one=$old_one
  [ $v = new ] && one=$new_one
  (cd "$work/$v" && export CARGO_TARGET_DIR="$work/target-$v" &&
    echo "// one-line change" >> src/exchange/grants.rs &&
    echo "$v one-line change, rebuilt, one test: $(t cargo test $one)" &&
    git checkout -q src/exchange/grants.rs)
done
git -C "$repo" worktree remove --force "$work/old"
git -C "$repo" worktree remove --force "$work/new"
rm -rf "$work"
