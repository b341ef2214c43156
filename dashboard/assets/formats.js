/* Dashboard layer (browser): the formats of reports/fmt.py for what the browser writes itself — clocks that
 * count between pushes (assets/live.js), the grid's money and duration columns and compact counts. The rules arrive from
 * Python in the <meta name="tasklens-formats"> tag (dashboard/server.py adds reports/fmt.browser_rules()), so this file
 * holds no style of its own: change reports/fmt.py and both sides follow.
 */
(function () {
  "use strict";

  var R = JSON.parse(document.querySelector('meta[name="tasklens-formats"]').getAttribute("content"));

  function two(n) { return (n < 10 ? "0" : "") + n; }

  // reports/fmt.duration: "250 ms", "5.2 s", "1m 05s", "3h 02m", "2d 04h" (compared as shown, floored above a
  // minute like a clock).
  function duration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return R.dash;
    seconds = Math.max(0, seconds);
    if (Math.round(seconds * 1000) < R.msBelow * 1000) return Math.round(seconds * 1000) + " ms";
    if (Number(seconds.toFixed(1)) < R.tenthsBelow) return seconds.toFixed(1) + " s";
    var whole = Math.max(Math.floor(seconds), Math.floor(R.tenthsBelow));
    for (var i = 0; i < R.pairs.length; i++) {
      var p = R.pairs[i]; // [below, larger unit in s, its suffix, smaller unit in s, its suffix]
      if (p[0] === null || whole < p[0]) {
        return Math.floor(whole / p[1]) + p[2] + " " + two(Math.floor((whole % p[1]) / p[3])) + p[4];
      }
    }
  }

  // reports/fmt.money: cents ("$5.12"), four places only below a cent ("$0.0034").
  function money(value) {
    if (value === null || value === undefined || isNaN(value)) return R.dash;
    var sign = value < 0 ? "-" : "", amount = Math.abs(value);
    if (amount === 0 || Number(amount.toFixed(2)) >= R.cent) {
      return sign + "$" + amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    var small = amount.toFixed(R.smallPlaces);
    return Number(small) ? sign + "$" + small : sign + "<$" + Math.pow(10, -R.smallPlaces).toFixed(R.smallPlaces);
  }

  // reports/fmt.compact: exact below compactFrom ("999,999"), else three significant digits and a unit ("1.23B"),
  // rounded half up in integers as the server does.
  function compact(value) {
    if (value === null || value === undefined || isNaN(value)) return R.dash;
    var n = Math.trunc(value), sign = n < 0 ? "-" : "";
    n = Math.abs(n);
    if (n < R.compactFrom) return sign + n.toLocaleString("en-US");
    var units = R.compactUnits, i = 0;
    for (var k = 0; k < units.length; k++) if (n >= units[k][0]) i = k;
    var places = Math.max(0, 3 - String(Math.floor(n / units[i][0])).length);
    for (;;) {
      var step = units[i][0] / Math.pow(10, places);
      var q = Math.floor((n + Math.floor(step / 2)) / step);
      if (q >= 1000 && places > 0) {
        places -= 1;
      } else if (q >= 1000 && i + 1 < units.length) {
        i += 1;
        places = 2;
      } else {
        var p10 = Math.pow(10, places), whole = Math.floor(q / p10), frac = String(q % p10);
        while (frac.length < places) frac = "0" + frac;
        return sign + whole.toLocaleString("en-US") + (places ? "." + frac : "") + units[i][1];
      }
    }
  }

  // "active 3.0 s ago" / "possibly stuck · silent 2m 05s": the words of reports/fmt.ACTIVE and STUCK.
  function words(template, seconds) { return template.replace("{}", duration(seconds)); }

  window.tasklensFormats = { rules: R, duration: duration, money: money, compact: compact, words: words };
  // dash-ag-grid evaluates column functions against this namespace; an empty cell stays empty.
  var fns = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
  // reports/fmt.count and tokens: exact, with separators ("29,518").
  fns.tasklensCount = function (value) {
    return value === null || value === undefined || value === "" ? "" : Math.trunc(value).toLocaleString("en-US");
  };
  fns.tasklensMoney = function (value) { return value === null || value === undefined ? "" : money(value); };
  fns.tasklensDuration = function (value) { return value === null || value === undefined ? "" : duration(value); };
})();
