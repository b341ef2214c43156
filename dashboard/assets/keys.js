/* Dashboard layer (browser): keyboard shortcuts — `/` search, `?` the shortcut list, `g` then a letter a page
 * (the table is dashboard/shortcuts.py's, read from the `shortcut-keys` store). A page change is a history
 * entry plus popstate, so it happens inside the app, without a reload. Nothing fires while the user types in
 * a field, or with Ctrl/Alt/Meta held (the browser's own shortcuts).
 */
(function () {
  "use strict";

  var MODAL = "shortcuts";
  var KEYS = "shortcut-keys";
  var SEARCH = ["filter-text", "jump-to-task"]; // the tasks table's filter where there is one, else the navbar's
  var G_WAIT_MS = 1500; // how long after the page took `g` its letter may be pressed

  var gAt = 0; // when the page took the `g` (performance.now()), 0 when no `g` waits

  function typing(el) {
    if (!el || el === document.body) return false;
    var tag = (el.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return true;
    if (el.isContentEditable) return true;
    var role = el.getAttribute && el.getAttribute("role");
    return role === "textbox" || role === "searchbox" || role === "combobox" && tag !== "button";
  }

  function layoutProps(id) {
    try {
      var node = window.dash_component_api.getLayout(id);
      return node && node.props;
    } catch (e) {
      return null; // the renderer is not up yet
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

  function focusSearch() {
    for (var i = 0; i < SEARCH.length; i++) {
      var el = document.getElementById(SEARCH[i]);
      if (el && el.offsetParent !== null) {
        el.focus();
        if (el.select) el.select();
        return true;
      }
    }
    return false;
  }

  function go(letter) {
    var props = layoutProps(KEYS);
    var path = props && props.data && props.data[letter];
    if (!path) return false;
    if (path === window.location.pathname && !window.location.search) return true;
    // As the browser's back button does: the new address, then popstate, which every dcc.Location (the
    // pages router's too) follows without a reload. Setting the `url` Location's href lost a second `g`
    // pressed while the first page change was still being drawn.
    window.history.pushState({}, "", path);
    window.dispatchEvent(new PopStateEvent("popstate", { state: {} }));
    return true;
  }

  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (typing(e.target)) return;
    if (document.querySelector(".modal.show") && e.key !== "?") return; // a dialog has the keyboard
    var key = e.key;
    var handled = false;
    // The letter counts by when it was pressed (e.timeStamp), against when the page took the `g`: while the
    // page is busy drawing (a slow laptop, a page change just made) keys wait their turn, and measured on
    // the handler's clock a quick `g t` took longer than G_WAIT_MS and was lost.
    var at = e.timeStamp || performance.now();
    if (gAt && at - gAt <= G_WAIT_MS && key.length === 1) {
      gAt = 0;
      handled = go(key.toLowerCase());
    } else if (key === "/") {
      handled = focusSearch();
    } else if (key === "?") {
      var open = layoutProps(MODAL);
      handled = setProps(MODAL, { is_open: !(open && open.is_open) });
    } else if (key === "g") {
      gAt = performance.now();
      handled = true;
    } else {
      gAt = 0;
    }
    if (handled) e.preventDefault(); // `/` must not land in the field it just focused
  });

  // The window opens once the page has taken the whole `g` (its release too): a letter pressed while the
  // page still had the `g` queued is in time however long the page was busy.
  document.addEventListener("keyup", function (e) {
    if (gAt && e.key === "g") gAt = performance.now();
  });

  window.tasklensKeys = { typing: typing }; // for tests
})();
