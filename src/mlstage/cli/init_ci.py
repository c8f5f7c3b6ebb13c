"""``mlstage init --ci gitlab|github``: a CI/CD pipeline around ``mlstage ci``.

Merge requests run the tests and ``mlstage ci`` with ``dry_run=true`` (the
candidate is trained, registered and gated, nothing is deployed). The main
branch runs ``mlstage ci`` for real: the training pipeline registers the
candidate and, when the gate passes, deploys it to staging. Production is a
manual job that needs an approval (a GitLab manual job in the protected
``production`` environment; a GitHub environment with required reviewers),
and its reason names who approved it, for the deployment history.
"""

from __future__ import annotations

from pathlib import Path

from mlstage.errors import Conflict, InvalidInput

SYSTEMS = ("gitlab", "github")
INSTALL = (
    "pip install mlstage",
    "if [ -f requirements.txt ]; then pip install -r requirements.txt; fi",
)

GITLAB = """\
# Written by `mlstage init --ci gitlab`. Set MLSTAGE_TRACKING_URI (and MLSTAGE_TRACKING_TOKEN,
# MLSTAGE_ARTIFACT_ROOT) as CI/CD variables so runs land in the team's store.
stages: [test, staging, production]

default:
  image: python:3.11-slim
  before_script:
    - {install0}
    - {install1}

checks:
  stage: test
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  script:
    - if [ -d tests ]; then python -m pytest -q; fi
    - mlstage ci --param dry_run=true

release-staging:
  stage: staging
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
  environment: staging
  script:
    - if [ -d tests ]; then python -m pytest -q; fi
    - mlstage ci

promote-production:
  stage: production
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      when: manual
  allow_failure: false
  environment: production
  script:
    - >-
      mlstage deploy {model} --env prod --model-version {model}@champion
      --reason "approved by $GITLAB_USER_LOGIN in $CI_PIPELINE_URL"
"""

GITHUB = """\
# Written by `mlstage init --ci github`. Set MLSTAGE_TRACKING_URI (and MLSTAGE_TRACKING_TOKEN,
# MLSTAGE_ARTIFACT_ROOT) as repository secrets; give the "production" environment required
# reviewers, so promotion waits for an approval.
name: mlstage

on:
  pull_request:
  push:
    branches: [main]

env:
  MLSTAGE_TRACKING_URI: ${{{{ secrets.MLSTAGE_TRACKING_URI }}}}
  MLSTAGE_TRACKING_TOKEN: ${{{{ secrets.MLSTAGE_TRACKING_TOKEN }}}}

jobs:
  checks:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {{python-version: "3.11"}}
      - run: |
          {install0}
          {install1}
      - run: if [ -d tests ]; then python -m pytest -q; fi
      - run: mlstage ci --param dry_run=true

  release-staging:
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {{python-version: "3.11"}}
      - run: |
          {install0}
          {install1}
      - run: if [ -d tests ]; then python -m pytest -q; fi
      - run: mlstage ci

  promote-production:
    needs: release-staging
    runs-on: ubuntu-latest
    environment: production
    steps:
      - uses: actions/setup-python@v5
        with: {{python-version: "3.11"}}
      - run: pip install mlstage
      - run: >-
          mlstage deploy {model} --env prod --model-version {model}@champion
          --reason "approved in run ${{{{ github.run_id }}}} by ${{{{ github.actor }}}}"
"""


def ci_path(root: Path, system: str) -> Path:
    """Where the CI file of ``system`` goes; refuses an unknown system or an existing file."""
    if system not in SYSTEMS:
        raise InvalidInput(f"--ci {system!r}: choose one of {', '.join(SYSTEMS)}")
    path = root / (".gitlab-ci.yml" if system == "gitlab" else ".github/workflows/mlstage.yml")
    if path.exists():
        raise Conflict(f"{path.relative_to(root)} exists already; move it away to write a new one")
    return path


def write_ci(root: Path, system: str, model: str) -> Path:
    """The CI file for ``system``; never overwrites one."""
    path = ci_path(root, system)
    template = GITLAB if system == "gitlab" else GITHUB
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        template.format(model=model, install0=INSTALL[0], install1=INSTALL[1]), encoding="utf-8"
    )
    return path
