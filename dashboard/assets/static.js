/* Dashboard layer (browser): tasklens.Static draws a read-only tree of Dash components (dashboard/components/
 * static.py) with their own React classes but without a Dash wrapper per node; tasklens.Svg shows a chart the
 * server drew as SVG (dashboard/components/svg.py).
 *
 * Each node is what Dash serialises a component to ({namespace, type, props}); its class is looked up the way
 * Dash's renderer does (window[namespace][type]). Components that ask for Dash's context (loading state) find
 * the Static's own, since they render inside it. Object ids become the string Dash would give the DOM.
 */
(function () {
  "use strict";

  function domId(id) {
    if (id === null || typeof id !== "object") return id;
    var api = window.dash_component_api;
    if (api && api.stringifyId) return api.stringifyId(id);
    return "{" + Object.keys(id).sort().map(function (k) {
      return JSON.stringify(k) + ":" + JSON.stringify(id[k]);
    }).join(",") + "}";
  }

  function draw(node, key) {
    if (node === null || node === undefined || typeof node !== "object") return node;
    if (Array.isArray(node)) {
      return node.map(function (child, i) { return draw(child, i); });
    }
    var ns = window[node.namespace];
    var type = ns && ns[node.type];
    if (!type) throw new Error("tasklens.Static: no component " + node.namespace + "." + node.type);
    var src = node.props || {};
    var props = {};
    for (var name in src) {
      if (name !== "children" && Object.prototype.hasOwnProperty.call(src, name)) props[name] = src[name];
    }
    if (props.id !== undefined) props.id = domId(props.id);
    if (key !== undefined) props.key = props.id !== undefined ? props.id : key;
    return React.createElement(type, props, draw(src.children));
  }

  function Static(props) {
    var content = draw(props.content);
    return React.createElement(React.Fragment, null, content === undefined ? null : content);
  }

  // Server-drawn SVG (dashboard/components/svg.py, dashboard/figures_svg.py): markup built and escaped by the
  // server, never from input, in the same <div> the snapshot draws.
  function Svg(props) {
    return React.createElement("div", {
      id: props.id, className: "tl-svg", dangerouslySetInnerHTML: { __html: props.markup || "" }
    });
  }

  window.tasklens = window.tasklens || {};
  window.tasklens.Static = Static;
  window.tasklens.Svg = Svg;
})();
