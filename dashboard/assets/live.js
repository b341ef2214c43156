/* Dashboard layer (browser): keeps one websocket to /ws and turns pushed events into Dash callbacks.
 *
 * Each burst of events is coalesced (at most one update every FLUSH_MS) into the `live-signal` store with
 * dash_clientside.set_props, which fires the ordinary Dash callbacks that re-query and redraw. A dropped
 * socket reconnects with backoff and resumes from the last seq it saw, so nothing is missed. While it is
 * down the page asks /healthz every second: when nothing answers the badge says "offline — since …, data as
 * of …" and the page is marked stale; the moment the server answers again the socket reconnects at once
 * (whatever its backoff), and while the server answers but the socket stays down the page polls slowly and
 * says so. window.tasklensLive exposes the state for tests.
 */
(function () {
  "use strict";

  var SIGNAL = "live-signal";
  var LIVE_SINCE = "live-since";
  // A first subscribe replays at most this many events after the served page's seq; further behind (a page
  // left loading for long) it subscribes from now and refreshes once instead.
  var MAX_CATCHUP = 5000;
  var STATUS = "live-status";
  var TOAST_PLAN = "toast-plan";
  var FLUSH_MS = 250;
  var POLL_MS = 10000;
  var POLL_AFTER_MS = 4000;
  var CONNECT_TIMEOUT_MS = 5000;
  // While the socket is down: how often /healthz is asked, how long an answer may take, and the socket's
  // longest backoff (a server that answers HTTP but refuses sockets is not hammered; one that was offline is
  // reconnected to as soon as /healthz answers, so a restart is live again within ~1 s).
  var PROBE_MS = 1000;
  var PROBE_TIMEOUT_MS = 2000;
  var MAX_BACKOFF_MS = 5000;
  var MAX_ACTIVITY = 300;
  var MAX_TASKS = 500;
  var TERMINAL = { completed: 1, failed: 1, cancelled: 1, timed_out: 1 };
  // "Task finished" toasts: each stays SHOW_MS; at most MAX_TOASTS up, beyond that one summary of the burst,
  // which keeps counting while finishes arrive less than SHOW_MS apart (dashboard/toasts.py draws them).
  var SHOW_MS = 6000;
  var MAX_TOASTS = 3;

  var state = {
    status: "connecting",
    lastSeq: null,
    alertSeq: 0,
    received: 0,
    flushes: 0,
    reconnects: 0,
    probes: 0,
    socket: null,
    offlineSince: null, // ms: the first failed /healthz of this outage
    dataAt: null, // ms: when the page last knew its data was current (socket open, or a poll after an answer)
  };
  window.tasklensLive = state;

  var pending = [];
  var flushTimer = null;
  var lastFlush = 0;
  var attempt = 0;
  var downSince = null;
  var polling = false; // the socket has been down POLL_AFTER_MS: refresh every POLL_MS while the server answers
  var downTimer = null;
  var retryTimer = null;
  var probeTimer = null;
  var lastPoll = 0;
  var watchdog = null;
  var heartbeatMs = 15000;
  var fromLayout = false; // the current subscription replays from the seq the page was served at

  function layoutSince() {
    // The change feed's seq when the server built this page (dashboard/server.py); null when it had none.
    try {
      var seq = window.dash_component_api.getLayout(LIVE_SINCE).props.data;
      return typeof seq === "number" ? seq : null;
    } catch (e) {
      return null;
    }
  }

  function rendererReady() {
    // getLayout throws until the Dash renderer has mounted the layout.
    try {
      return !!(window.dash_clientside && window.dash_clientside.set_props &&
        window.dash_component_api && window.dash_component_api.getLayout(SIGNAL));
    } catch (e) {
      return false;
    }
  }

  function setProps(id, props) {
    try {
      window.dash_clientside.set_props(id, props);
      return true;
    } catch (e) {
      return false;
    }
  }

  function clock(ms) {
    // hh:mm:ss in the zone the page shows times in (assets/localtime.js's switch; UTC unless chosen).
    var d = new Date(ms);
    var local = document.documentElement.getAttribute("data-tz") === "local";
    var parts = local ? [d.getHours(), d.getMinutes(), d.getSeconds()]
      : [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
    return parts.map(function (n) { return (n < 10 ? "0" : "") + n; }).join(":") + (local ? "" : " UTC");
  }

  var COLORS = { live: "success", reconnecting: "warning", polling: "secondary", offline: "danger", connecting: "light" };
  var TEXT = { live: "white", reconnecting: "dark", polling: "white", offline: "white", connecting: "dark" };
  var TITLES = {
    live: "live: changes are pushed over a websocket as they happen",
    reconnecting: "reconnecting: the live socket dropped; the server still answers",
    polling: "polling: the server answers but the live socket is down; the page refreshes every " + POLL_MS / 1000 + " s",
    offline: "offline: the server does not answer; what the page shows may be out of date",
    connecting: "connecting to the server…",
  };

  function label(status) {
    if (status === "offline") {
      return "offline — since " + clock(state.offlineSince) +
        (state.dataAt !== null ? ", data as of " + clock(state.dataAt) : ", no data yet");
    }
    return { live: "live", reconnecting: "reconnecting…", polling: "polling", connecting: "connecting…" }[status] || status;
  }

  function showStatus(status) {
    state.status = status;
    // A stylesheet dims the page while offline: the cards on screen are stale, and should look it.
    document.documentElement.setAttribute("data-live", status);
    if (rendererReady()) {
      setProps(STATUS, {
        children: label(status),
        color: COLORS[status] || "light",
        text_color: TEXT[status] || "dark",
        title: TITLES[status] || "",
      });
    }
  }

  function signal(reason, events) {
    var tasks = {};
    var finished = [];
    var activity = [];
    var workers = false;
    var alerts = [];
    var refreshed = false;
    for (var i = 0; i < events.length; i++) {
      var ev = events[i];
      if (ev.task_id != null) tasks[ev.task_id] = 1;
      if (ev.type === "task.transition" && TERMINAL[ev.to]) {
        finished.push({ task_id: ev.task_id, to: ev.to, seq: ev.seq });
      }
      if (ev.type === "activity") {
        activity.push({
          seq: ev.seq, task_id: ev.task_id, at: ev.at,
          type: ev.data && ev.data.type, message: ev.data && ev.data.message,
        });
      }
      if (ev.type && ev.type.indexOf("worker.") === 0) workers = true;
      // Alert changes (alert opened, fired, resolved, acknowledged, acted on): the bell re-counts only then,
      // and a critical or high one that fired becomes a toast (dashboard/alertbell.py).
      if (ev.type === "alert" && ev.data) {
        if (ev.seq > state.alertSeq) state.alertSeq = ev.seq;
        alerts.push({
          seq: ev.seq, alert_id: ev.data.alert_id, change: ev.data.change,
          severity: ev.data.severity, summary: ev.data.summary,
        });
      }
      if (ev.type === "refresh") refreshed = true;
    }
    var ids = Object.keys(tasks).map(Number).slice(0, MAX_TASKS);
    var data = {
      reason: reason,
      seq: state.lastSeq,
      n: events.length,
      tasks: ids,
      finished: finished.slice(-20),
      activity: activity.slice(-MAX_ACTIVITY),
      workers: workers,
      alerts: alerts.slice(-20),
      // The newest alert event passed on so far, in every push: the alert toasts read the event log up to
      // here, so the alerts of a push whose callback Dash dropped still come (dashboard/alertbell.py).
      alert_seq: state.alertSeq,
      refresh: refreshed,
      at: Date.now(),
    };
    if (setProps(SIGNAL, { data: data })) state.flushes += 1;
    if (finished.length) noteFinished(finished);
  }

  // ---- the toast plan: kept here, where pushes are ordered, and sent whole, so a Dash callback call that
  // a newer push overtakes (and Dash drops) loses nothing ----
  var burst = { shown: [], counts: null, lastAt: 0 };
  var dismissed = {};

  function noteFinished(finished) {
    var now = Date.now();
    var fresh = finished.map(function (f) {
      return { task_id: f.task_id, to: f.to, key: f.task_id + "-" + f.seq, at: now };
    });
    if (burst.counts && now - burst.lastAt < SHOW_MS) {
      fresh.forEach(function (f) { burst.counts[f.to] = (burst.counts[f.to] || 0) + 1; });
    } else {
      burst.counts = null;
      var up = burst.shown.filter(function (f) { return now - f.at < SHOW_MS && !dismissed[f.key]; });
      if (up.length + fresh.length > MAX_TOASTS) {
        burst.counts = {};
        up.concat(fresh).forEach(function (f) { burst.counts[f.to] = (burst.counts[f.to] || 0) + 1; });
        burst.shown = [];
      } else {
        burst.shown = up.concat(fresh);
      }
    }
    burst.lastAt = now;
    var plan = burst.counts ? { counts: burst.counts } : {
      finished: burst.shown.map(function (f) {
        return { task_id: f.task_id, to: f.to, key: f.key, ms_left: Math.max(1, SHOW_MS - (now - f.at)) };
      }),
    };
    plan.at = now; // every plan differs, so Dash fires even when one repeats an earlier one
    setProps(TOAST_PLAN, { data: plan });
  }

  // A closed toast stays closed when the stack is redrawn for a later finish.
  document.addEventListener("click", function (e) {
    var close = e.target && e.target.closest ? e.target.closest(".toast .btn-close") : null;
    var toast = close ? close.closest(".toast") : null;
    if (toast && toast.id && toast.id.indexOf("finish-") === 0) dismissed[toast.id.slice(7)] = 1;
  }, true);

  function flush() {
    flushTimer = null;
    if (!rendererReady()) {
      flushTimer = setTimeout(flush, 100);
      return;
    }
    lastFlush = Date.now();
    var batch = pending;
    pending = [];
    if (batch.length) signal("events", batch);
  }

  function schedule() {
    if (flushTimer !== null) return;
    // Leading edge when quiet, then at most one flush every FLUSH_MS during a burst.
    var wait = Math.max(0, FLUSH_MS - (Date.now() - lastFlush));
    flushTimer = setTimeout(flush, wait);
  }

  function poll() {
    // Only after /healthz answered: a poll that would fail is no refresh, and the badge says offline instead.
    if (!rendererReady()) return;
    lastPoll = Date.now();
    signal("poll", []);
    state.dataAt = lastPoll;
  }

  function startPolling() {
    if (polling) return;
    polling = true;
    if (state.offlineSince === null) showStatus("polling");
  }

  function stopPolling() {
    polling = false;
  }

  function probe() {
    probeTimer = null;
    if (downSince === null) return; // the socket is back: nothing to ask
    state.probes += 1;
    var ctl = typeof AbortController === "function" ? new AbortController() : null;
    var timeout = setTimeout(function () { if (ctl) ctl.abort(); }, PROBE_TIMEOUT_MS);
    fetch("/healthz", { cache: "no-store", credentials: "same-origin", signal: ctl ? ctl.signal : undefined })
      .then(function (res) { return res.ok; }, function () { return false; })
      .then(function (ok) {
        clearTimeout(timeout);
        if (downSince === null) return;
        if (ok) answered();
        else unanswered();
        probeTimer = setTimeout(probe, PROBE_MS);
      });
  }

  function answered() {
    var wasOffline = state.offlineSince !== null;
    state.offlineSince = null;
    if (wasOffline) {
      // Back: reconnect now rather than when the backoff says, and refresh what the page shows meanwhile.
      attempt = 0;
      if (state.socket === null) {
        if (retryTimer !== null) clearTimeout(retryTimer);
        retryTimer = null;
        connect();
      }
      if (polling) poll();
    } else if (polling && Date.now() - lastPoll >= POLL_MS) {
      poll();
    }
    if (state.status !== "live") showStatus(polling ? "polling" : "reconnecting");
  }

  function unanswered() {
    if (state.offlineSince === null) state.offlineSince = Date.now();
    showStatus("offline");
  }

  function armWatchdog() {
    // No message (not even a heartbeat) for two heartbeats: the socket is dead even if not closed.
    if (watchdog !== null) clearTimeout(watchdog);
    watchdog = setTimeout(function () {
      if (state.socket) state.socket.close();
    }, heartbeatMs * 2 + 1000);
  }

  function onMessage(event) {
    var msg;
    try {
      msg = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    armWatchdog();
    if (state.status === "live") state.dataAt = Date.now();
    if (msg.type === "hello") {
      if (msg.heartbeat) heartbeatMs = msg.heartbeat * 1000;
      if (msg.at) skewMs = Date.now() - Date.parse(msg.at);
      var since = state.lastSeq;
      fromLayout = false;
      if (since === null) {
        // First connection of this page: every read behind what it shows came after the seq it was served
        // at, so replaying from there brings it up to date, and a quiet system costs no refresh at all.
        var served = layoutSince();
        fromLayout = served !== null && msg.seq - served <= MAX_CATCHUP;
        since = fromLayout ? served : msg.seq;
      }
      state.lastSeq = since;
      state.socket.send(JSON.stringify({ type: "subscribe", since: since }));
      return;
    }
    if (msg.type === "subscribed") {
      attempt = 0;
      downSince = null;
      state.offlineSince = null;
      state.dataAt = Date.now();
      if (downTimer !== null) clearTimeout(downTimer);
      downTimer = null;
      if (probeTimer !== null) clearTimeout(probeTimer);
      probeTimer = null;
      stopPolling();
      showStatus("live");
      // Without a replay from the page's own seq (a reconnect, or no seq served), the page may miss what
      // happened before the socket was up: one refresh closes that window.
      if (!fromLayout) {
        pending.push({ type: "refresh", seq: msg.seq });
        schedule();
      }
      fromLayout = false;
      return;
    }
    if (msg.type === "ping" || msg.type === "pong" || msg.type === "error") return;
    if (typeof msg.seq === "number") {
      if (state.lastSeq !== null && msg.seq <= state.lastSeq) return;
      state.lastSeq = msg.seq;
      state.received += 1;
      pending.push(msg);
      schedule();
    }
  }

  function connect() {
    var proto = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(proto + window.location.host + "/ws");
    } catch (e) {
      retry();
      return;
    }
    state.socket = socket;
    socket.onmessage = onMessage;
    socket.onopen = armWatchdog;
    // A connection that neither opens nor fails (a proxy swallowing it) is abandoned and retried.
    var connectTimer = setTimeout(function () {
      if (socket.readyState === WebSocket.CONNECTING) socket.close();
    }, CONNECT_TIMEOUT_MS);
    socket.addEventListener("open", function () { clearTimeout(connectTimer); });
    socket.onclose = function () {
      if (watchdog !== null) clearTimeout(watchdog);
      // Everything up to this moment came through; the page is as current as its last message.
      if (state.status === "live") state.dataAt = Date.now();
      if (state.socket === socket) state.socket = null;
      retry();
    };
    socket.onerror = function () {
      socket.close();
    };
  }

  function retry() {
    if (downSince === null) {
      downSince = Date.now();
      // Fall back to polling after POLL_AFTER_MS down, however long the reconnect attempts take.
      downTimer = setTimeout(startPolling, POLL_AFTER_MS);
      probe(); // at once: is it the socket, or is the server gone?
    }
    if (Date.now() - downSince >= POLL_AFTER_MS) startPolling();
    else if (state.offlineSince === null) showStatus("reconnecting");
    attempt += 1;
    state.reconnects += 1;
    var delay = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() * 0.5);
    if (retryTimer !== null) clearTimeout(retryTimer);
    retryTimer = setTimeout(function () {
      retryTimer = null;
      if (!polling && Date.now() - downSince >= POLL_AFTER_MS) startPolling();
      if (state.socket === null) connect();
    }, delay);
  }

  // ---- clocks: silence and elapsed times keep counting between pushes (a stuck task sends nothing) ----
  var skewMs = 0; // browser clock minus server clock, learned from the hello message

  // Durations and the liveness words in reports/fmt.py's style (assets/formats.js, loaded before this file).
  var formats = window.tasklensFormats;
  var fmt = formats.duration;

  function tick() {
    var now = Date.now() - skewMs;
    var since = document.querySelectorAll("[data-since]");
    for (var i = 0; i < since.length; i++) {
      var el = since[i];
      var took = fmt((now - Date.parse(el.dataset.since)) / 1000);
      el.textContent = el.dataset.label ? el.dataset.label + " " + took : took;
    }
    var live = document.querySelectorAll("[data-activity-at]");
    for (var j = 0; j < live.length; j++) {
      var span = live[j];
      var silence = (now - Date.parse(span.dataset.activityAt)) / 1000;
      var stuck = silence > Number(span.dataset.stuckAfter); // db/domain/liveness.possibly_stuck: longer than
      span.innerHTML = "";
      var inner = document.createElement("span");
      inner.className = stuck ? "badge text-bg-warning ms-1 stuck-badge" : "text-success small";
      inner.textContent = formats.words(stuck ? formats.rules.stuck : formats.rules.active, silence);
      span.appendChild(inner);
    }
  }
  setInterval(function () {
    tick();
    reconcileBadge();
  }, 1000);

  // The badge follows the socket's state even when an update to it was lost (seen on a loaded machine: the
  // socket was live, the badge still said connecting): once a second, a badge that disagrees is redrawn.
  function reconcileBadge() {
    var el = document.getElementById(STATUS);
    if (el && rendererReady() && el.textContent !== label(state.status)) showStatus(state.status);
  }

  function whenRendered(fn) {
    if (rendererReady()) fn();
    else setTimeout(function () { whenRendered(fn); }, 50);
  }

  whenRendered(function () {
    showStatus("connecting");
    connect();
  });
})();
