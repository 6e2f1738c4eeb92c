#!/usr/bin/env bash
# The GitHub Action's gate (action.yml): one `privaudit check` computes the assessment once and
# writes the JUnit report and the step summary beside the log output; the step fails with the
# gate's exit code. Inputs come as PRIVAUDIT_* variables; GitHub's own variables say where the
# summary and the outputs go. Run by tests/templates/test_github_action.py with those variables.
set -uo pipefail

: "${PRIVAUDIT_LEDGER:?the ledger input is required}"
: "${PRIVAUDIT_POLICY:?the policy input is required}"
base="${PRIVAUDIT_BASE:-}"
format="${PRIVAUDIT_FORMAT:-github}"
junit="${PRIVAUDIT_JUNIT:-privaudit-junit.xml}"

if [ "$base" = auto ]; then
  if [ -n "${GITHUB_BASE_REF:-}" ]; then
    base="git:origin/${GITHUB_BASE_REF}"
  else
    base=""
    echo "::notice title=privaudit::no pull request base (event ${GITHUB_EVENT_NAME:-unknown}): checking the whole ledger without a base"
  fi
fi

summary="$(mktemp "${RUNNER_TEMP:-/tmp}/privaudit-summary.XXXXXX")"
trap 'rm -f "$summary"' EXIT

arguments=(check "$PRIVAUDIT_LEDGER" --policy "$PRIVAUDIT_POLICY" --format "$format"
  --write "junit=$junit" --write "markdown=$summary")
if [ -n "$base" ]; then
  arguments+=(--base "$base")
fi

privaudit "${arguments[@]}"
code=$?

# The summary file is shared by every step of the job: append, never replace.
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -s "$summary" ]; then
  cat "$summary" >>"$GITHUB_STEP_SUMMARY"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "exit-code=$code"
    echo "junit=$junit"
  } >>"$GITHUB_OUTPUT"
fi
if [ "$code" -ge 2 ]; then
  echo "::error title=privaudit::the gate could not run (exit $code): see the message above"
fi
exit "$code"
