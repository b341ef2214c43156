"""Dashboard layer: component ids, as constants shared by layouts, callbacks, the browser script and tests."""

# App shell
URL = "url"
SIGNAL = "live-signal"  # written by assets/live.js through dash_clientside.set_props
STATUS = "live-status"
# The change feed's seq when the shell was served: live.js subscribes from it (every read of the page comes
# after it), so a page load needs no catch-up refresh of its own.
LIVE_SINCE = "live-since"
THEME = "theme"
THEME_SWITCH = "theme-switch"
LOCAL_TIME = "local-time"  # "utc" or "local", remembered per browser (localStorage)
LOCAL_TIME_SWITCH = "local-time-switch"
TOASTS = "toasts"
TOAST_PLAN = "toast-plan"  # written by assets/live.js: the toasts to show (dashboard/toasts.py)
JUMP = "jump-to-task"
NAV_TOGGLE = "nav-toggle"
NAV_COLLAPSE = "nav-collapse"
SHORTCUTS = "shortcuts"  # the `?` dialog (dashboard/shortcuts.py, assets/keys.js)
SHORTCUTS_TITLE = "shortcuts-title"
SHORTCUT_KEYS = "shortcut-keys"  # g + letter → path, read by assets/keys.js
MAIN = "main"  # the page container (<main>), the skip link's target
NOW = "now-tick"

# Overview
KPIS = "overview-kpis"
THROUGHPUT = "overview-throughput"
WORKERS = "overview-workers"

# Tasks
BOARD = "tasks-board"
GRID = "tasks-grid"
F_STATUS = "filter-status"
F_KIND = "filter-kind"
F_WORKER = "filter-worker"
F_TAG = "filter-tag"
F_TEXT = "filter-text"
F_RANGE = "filter-range"
F_MESSAGES = "filter-messages"

# Task detail
DETAIL_ID = "detail-task-id"
DETAIL_HEADER = "detail-header"
DETAIL_USER = "detail-user"
DETAIL_SYSTEM = "detail-system"
DETAIL_DATABASE = "detail-database"
DETAIL_TIMELINE = "detail-timeline"
DETAIL_INVOCATIONS = "detail-invocations"
DETAIL_PANELS = "detail-panels"
DETAIL_NOT_FOUND = "detail-not-found"
ACTIVITY = "detail-activity"
ACTIVITY_PAUSE = "detail-activity-pause"
ACTIVITY_CURSOR = "detail-activity-cursor"
CANCEL = "detail-cancel"
RETRY = "detail-retry"
ACTION_RESULT = "detail-action-result"

# Submit
S_KIND = "submit-kind"
S_TITLE = "submit-title"
S_COMMAND = "submit-command"
S_PAYLOAD = "submit-payload"
S_PRIORITY = "submit-priority"
S_TAGS = "submit-tags"
S_MAX_ITERATIONS = "submit-max-iterations"
S_MAX_ATTEMPTS = "submit-max-attempts"
S_TIMEOUT = "submit-timeout"
S_BUTTON = "submit-button"
S_FEEDBACK = "submit-feedback"

# Analytics: the shared scope bar (its state lives in the URL's query string)
SCOPE_RANGE = "scope-range"
SCOPE_FROM = "scope-from"
SCOPE_TO = "scope-to"
SCOPE_DIM = "scope-dim"  # pattern-matched: {"type": SCOPE_DIM, "dim": "model"}
SCOPE_ERROR = "scope-error"

# Costs
PAGE_SCOPE = "page-scope"  # the scope a page was rendered with (its URL query)
COST_PER = "cost-per"
COST_TOKENS = "cost-tokens"
COST_KPIS = "cost-kpis"
COST_OVER_TIME = "cost-over-time"
COST_BREAKDOWN_DIM = "cost-breakdown-dim"
COST_BREAKDOWN = "cost-breakdown"
COST_TOP_TASKS = "cost-top-tasks"
COST_TOP_CALLS = "cost-top-calls"

# Budgets
BUDGET_LIST = "budget-list"
BUDGET_VERSION = "budget-version"  # bumped after an add or delete, so the list redraws
BUDGET_NAME = "budget-name"
BUDGET_PERIOD = "budget-period"
BUDGET_LIMIT = "budget-limit"
BUDGET_SCOPE_KIND = "budget-scope-kind"
BUDGET_SCOPE_VALUE = "budget-scope-value"
BUDGET_ADD = "budget-add"
BUDGET_FEEDBACK = "budget-feedback"
BUDGET_DELETE = "budget-delete"  # pattern-matched: {"type": BUDGET_DELETE, "id": <budget id>}

# CSV downloads: a link per table whose href carries the filters the table shows (dashboard/exports.py)
EXPORT_TASKS = "export-tasks"
EXPORT_INVOCATIONS = "export-invocations"
EXPORT_ACTIVITY = "export-activity"
EXPORT_COST_BREAKDOWN = "export-cost-breakdown"
EXPORT_COST_TOP_TASKS = "export-cost-top-tasks"
EXPORT_COST_TOP_CALLS = "export-cost-top-calls"
EXPORT_FLEET = "export-agents-fleet"
EXPORT_ROLES = "export-agents-roles"
EXPORT_WORKERS = "export-overview-workers"
EXPORT_TABLE_SIZES = "export-database-tables"
EXPORT_BUDGETS = "export-budgets"
EXPORT_REPORT_RUNS = "export-report-runs"
EXPORT_AUDIT = "export-audit"

# Reports
RPT_RUNS = "reports-runs"
RPT_VERSION = "reports-version"  # bumped after a run is queued, so the table redraws at once
RPT_PERIOD = "reports-period"
RPT_FROM = "reports-from"
RPT_TO = "reports-to"
RPT_KIND = "reports-kind"
RPT_TAG = "reports-tag"
RPT_FORMATS = "reports-formats"
RPT_GENERATE = "reports-generate"
RPT_FEEDBACK = "reports-feedback"
RPT_EMPTY_NOTE = "reports-empty-note"
RPT_SCHEDULES = "reports-schedules"
# Schedule editor fields, pattern-matched per schedule: {"type": SCHED_TIME, "id": <schedule id>}
SCHED_ENABLED = "sched-enabled"
SCHED_TIME = "sched-time"
SCHED_WEEKDAY = "sched-weekday"
SCHED_DAY = "sched-day"
SCHED_TZ = "sched-timezone"
SCHED_FORMATS = "sched-formats"
SCHED_KIND = "sched-kind"
SCHED_TAG = "sched-tag"
SCHED_RECIPIENTS = "sched-recipients"
SCHED_WEBHOOK = "sched-webhook"
SCHED_SAVE = "sched-save"
SCHED_FEEDBACK = "sched-feedback"
SCHED_NEXT = "sched-next"
