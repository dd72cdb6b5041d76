// mcpfed web catalogue: enhancements only. Every page works without this
// script; it adds copy buttons and search as you type.
(function () {
  'use strict';

  function flash(button, text) {
    if (!button.dataset.label) { button.dataset.label = button.textContent; }
    button.textContent = text;
    clearTimeout(button.flashTimer);
    button.flashTimer = setTimeout(function () { button.textContent = button.dataset.label; }, 1500);
  }

  // Copy buttons are rendered hidden: they do nothing without a script.
  // The clipboard API needs a secure context; over plain http (an
  // air-gapped install) the selection is copied instead.
  function copyText(el) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(el.textContent);
    }
    return new Promise(function (resolve, reject) {
      var range = document.createRange();
      var selection = window.getSelection();
      range.selectNodeContents(el);
      selection.removeAllRanges();
      selection.addRange(range);
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      selection.removeAllRanges();
      if (ok) { resolve(); } else { reject(new Error('copy refused')); }
    });
  }
  document.querySelectorAll('button.copy[data-copy]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () {
      var source = document.getElementById(button.getAttribute('data-copy'));
      if (!source) { return; }
      copyText(source).then(
        function () { flash(button, 'Copied'); },
        function () { flash(button, 'Copy failed'); });
    });
  });

  // Search as you type: fetch the same page the form would load and swap
  // in its results, count and pager.
  var form = document.getElementById('search');
  if (!form || !window.fetch || !window.DOMParser || !window.URLSearchParams) { return; }
  var timer = 0;
  var inflight = null;
  function query() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (value !== '') { params.append(key, value); }
    });
    var s = params.toString();
    return form.getAttribute('action') + (s ? '?' + s : '');
  }
  function update() {
    var url = query();
    if (inflight) { inflight.abort(); }
    inflight = window.AbortController ? new AbortController() : null;
    fetch(url, { headers: { Accept: 'text/html' }, credentials: 'same-origin', signal: inflight && inflight.signal })
      .then(function (resp) { return resp.ok ? resp.text() : Promise.reject(resp.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        ['results', 'pager'].forEach(function (id) {
          var here = document.getElementById(id);
          var there = doc.getElementById(id);
          if (here && there) { here.replaceWith(document.importNode(there, true)); }
        });
        // The count is a live region: its text changes, the element stays.
        var count = document.getElementById('count');
        var newCount = doc.getElementById('count');
        if (count && newCount) { count.textContent = newCount.textContent; }
        history.replaceState(null, '', url);
      })
      .catch(function () { /* the form still submits the ordinary way */ });
  }
  form.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  });
}());
