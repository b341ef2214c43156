/* Dashboard layer (browser): keeps one websocket to /ws and turns pushed events into Dash callbacks.
 *
 * Each burst of events is coalesced (at most one update every FLUSH_MS) into the `live-signal` store with
 * dash_clientside.set_props, which fires the ordinary Dash callbacks that re-query and redraw. A dropped
 * socket reconnects with backoff and resumes from the last seq it saw, so nothing is missed; while it is
 * down the page polls slowly and the indicator says so. window.tasklensLive exposes the state for tests.
 */
(function () {
  "use strict";

  var SIGNAL = "live-signal";
  var STATUS = "live-status";
  var FLUSH_MS = 250;
  var POLL_MS = 10000;
  var POLL_AFTER_MS = 4000;
  var CONNECT_TIMEOUT_MS = 5000;
  var MAX_ACTIVITY = 300;
  var MAX_TASKS = 500;
  var TERMINAL = { completed: 1, failed: 1, cancelled: 1, timed_out: 1 };

  var state = {
    status: "connecting",
    lastSeq: null,
    received: 0,
    flushes: 0,
    reconnects: 0,
    socket: null,
  };
  window.tasklensLive = state;

  var pending = [];
  var flushTimer = null;
  var lastFlush = 0;
  var attempt = 0;
  var downSince = null;
  var pollTimer = null;
  var downTimer = null;
  var watchdog = null;
  var heartbeatMs = 15000;

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

  function showStatus(status) {
    state.status = status;
    var colors = { live: "success", reconnecting: "warning", polling: "secondary", connecting: "light" };
    var text = { live: "white", reconnecting: "dark", polling: "white", connecting: "dark" };
    var labels = { live: "live", reconnecting: "reconnecting…", polling: "polling", connecting: "connecting…" };
    if (rendererReady()) {
      setProps(STATUS, {
        children: labels[status] || status,
        color: colors[status] || "light",
        text_color: text[status] || "dark",
      });
    }
  }

  function signal(reason, events) {
    var tasks = {};
    var finished = [];
    var activity = [];
    var workers = false;
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
      at: Date.now(),
    };
    if (setProps(SIGNAL, { data: data })) state.flushes += 1;
  }

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

  function startPolling() {
    if (pollTimer !== null) return;
    showStatus("polling");
    pollTimer = setInterval(function () {
      if (rendererReady()) signal("poll", []);
    }, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
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
    if (msg.type === "hello") {
      if (msg.heartbeat) heartbeatMs = msg.heartbeat * 1000;
      if (msg.at) skewMs = Date.now() - Date.parse(msg.at);
      var since = state.lastSeq === null ? msg.seq : state.lastSeq;
      state.lastSeq = since;
      state.socket.send(JSON.stringify({ type: "subscribe", since: since }));
      return;
    }
    if (msg.type === "subscribed") {
      attempt = 0;
      downSince = null;
      if (downTimer !== null) clearTimeout(downTimer);
      downTimer = null;
      stopPolling();
      showStatus("live");
      // The page may have rendered before the socket was up: one refresh closes that window.
      pending.push({ type: "refresh", seq: msg.seq });
      schedule();
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
    }
    if (Date.now() - downSince >= POLL_AFTER_MS) startPolling();
    else showStatus("reconnecting");
    attempt += 1;
    state.reconnects += 1;
    var delay = Math.min(15000, 500 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() * 0.5);
    setTimeout(function () {
      if (pollTimer === null && Date.now() - downSince >= POLL_AFTER_MS) startPolling();
      connect();
    }, delay);
  }

  // ---- clocks: silence and elapsed times keep counting between pushes (a stuck task sends nothing) ----
  var skewMs = 0; // browser clock minus server clock, learned from the hello message

  function fmt(seconds) {
    seconds = Math.max(0, seconds);
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    var m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
    if (m < 60) return m + "m " + (s < 10 ? "0" : "") + s + "s";
    var h = Math.floor(m / 60);
    m = m % 60;
    if (h < 48) return h + "h " + (m < 10 ? "0" : "") + m + "m";
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  }

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
      var stuck = silence >= Number(span.dataset.stuckAfter);
      span.innerHTML = "";
      var inner = document.createElement("span");
      inner.className = stuck ? "badge text-bg-warning ms-1 stuck-badge" : "text-success small";
      inner.textContent = stuck ? "possibly stuck · silent " + fmt(silence) : "active " + fmt(silence) + " ago";
      span.appendChild(inner);
    }
  }
  setInterval(tick, 1000);

  function whenRendered(fn) {
    if (rendererReady()) fn();
    else setTimeout(function () { whenRendered(fn); }, 50);
  }

  whenRendered(function () {
    showStatus("connecting");
    connect();
  });
})();
