"""Worker layer: the statistical model of a multi-role AI agent, shared by the live demo handler and the
history generator so both produce the same shapes of work, tokens, cost and failure."""

from __future__ import annotations

import random
from dataclasses import dataclass

from db.domain.pricing import DEFAULT_PRICES, cost_of

ROLES: tuple[str, ...] = ("analyst", "planner", "builder", "tester", "reviewer")


@dataclass(frozen=True)
class RoleProfile:
    models: tuple[str, ...]
    seconds: tuple[float, float]  # typical duration range of one call
    input_tokens: tuple[int, int]
    output_tokens: tuple[int, int]
    failure_rate: float  # relative: which role a failing run most likely breaks in
    tools: tuple[str, ...]


PROFILES: dict[str, RoleProfile] = {
    "analyst": RoleProfile(
        ("claude-sonnet-4-5", "gemini-2.5-pro"),
        (1.5, 5.0),
        (2_000, 12_000),
        (300, 1_500),
        0.02,
        ("web_search", "read_file", "grep"),
    ),
    "planner": RoleProfile(
        ("claude-opus-4-1", "gpt-4.1"),
        (2.0, 6.0),
        (3_000, 15_000),
        (500, 2_500),
        0.03,
        ("read_file", "list_dir"),
    ),
    "builder": RoleProfile(
        ("claude-sonnet-4-5", "gpt-4.1"),
        (3.0, 9.0),
        (5_000, 30_000),
        (1_000, 6_000),
        0.05,
        ("write_file", "apply_patch", "run_shell"),
    ),
    "tester": RoleProfile(
        ("claude-haiku-4-5", "gpt-4.1-mini", "gemini-2.5-flash"),
        (1.0, 4.0),
        (1_500, 8_000),
        (200, 1_200),
        0.08,
        ("run_tests", "run_shell"),
    ),
    "reviewer": RoleProfile(
        ("claude-sonnet-4-5", "gemini-2.5-pro"),
        (1.5, 5.0),
        (4_000, 20_000),
        (300, 2_000),
        0.04,
        ("read_diff", "grep"),
    ),
}

GOALS: tuple[str, ...] = (
    "Fix flaky checkout test",
    "Add CSV export to billing",
    "Migrate auth service to OAuth 2.1",
    "Summarise last week's incidents",
    "Refactor payment retry logic",
    "Write onboarding docs",
    "Upgrade ORM to 2.x",
    "Triage open bug reports",
    "Build weekly usage digest",
    "Investigate slow search queries",
    "Add rate limiting to public API",
    "Translate help centre",
)
TAGS: tuple[str, ...] = ("backend", "frontend", "docs", "infra", "research", "billing", "search")
CREATORS: tuple[str, ...] = ("alice", "bob", "carol", "dmitri", "eve", "scheduler")

# Role-free: the agent prefixes the role that failed ("tester: 3 tests failed …").
FAILURE_MESSAGES: tuple[str, ...] = (
    "3 tests failed after 2 fix attempts",
    "provider returned 529 overloaded three times",
    "the patch does not apply",
    "context window exceeded while reading the repository",
    "change rejected in review: missing migration",
)


@dataclass(frozen=True)
class Call:
    role: str
    model: str
    provider: str
    seconds: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: float
    tools: tuple[str, ...]


def plan_call(rng: random.Random, role: str) -> Call:
    p = PROFILES[role]
    model = rng.choice(p.models)
    input_tokens = rng.randint(*p.input_tokens)
    output_tokens = rng.randint(*p.output_tokens)
    cache = int(input_tokens * rng.uniform(0.0, 0.6))
    tools = tuple(rng.choice(p.tools) for _ in range(rng.randint(0, 3)))
    return Call(
        role=role,
        model=model,
        provider=DEFAULT_PRICES[model].provider,
        seconds=rng.uniform(*p.seconds),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache,
        cost_usd=round(cost_of(model, input_tokens, output_tokens, cache), 6),
        tools=tools,
    )


def iteration_roles(rng: random.Random, iteration: int) -> list[str]:
    """The first iteration analyses and plans; later ones build, test and sometimes review."""
    roles = ["analyst", "planner"] if iteration == 1 else []
    roles += ["builder", "tester"]
    if rng.random() < 0.6:
        roles.append("reviewer")
    return roles


def work_plan(rng: random.Random, iterations: int) -> list[tuple[int, str]]:
    """Every (iteration, role) call of one run, in order."""
    return [(i, role) for i in range(1, iterations + 1) for role in iteration_roles(rng, i)]


def failing_call(rng: random.Random, plan: list[tuple[int, str]]) -> int:
    """Where a failing run breaks: roles that fail more often in PROFILES are likelier to be the one."""
    weights = [PROFILES[role].failure_rate for _, role in plan]
    return rng.choices(range(len(plan)), weights=weights)[0]


def tool_line(rng: random.Random, tool: str) -> str:
    targets = {
        "web_search": ["python retry backoff jitter", "OAuth 2.1 PKCE", "sqlite WAL checkpoint"],
        "read_file": ["src/app/billing.py", "README.md", "tests/test_checkout.py"],
        "grep": ["'def retry'", "'TODO'", "'rate_limit'"],
        "list_dir": ["src/", "migrations/"],
        "write_file": ["src/app/export.py", "docs/onboarding.md"],
        "apply_patch": ["3 hunks", "1 hunk"],
        "run_shell": ["make lint", "pip install -e ."],
        "run_tests": ["pytest -q tests/", "pytest -q -k checkout"],
        "read_diff": ["HEAD~1..HEAD"],
    }
    return f"{tool} {rng.choice(targets.get(tool, ['']))}".strip()
