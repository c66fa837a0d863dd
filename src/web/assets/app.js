// moodlog's progressive enhancement. Every page works without this file;
// with it, forms are sent without leaving the page (so a dropped connection
// shows a message instead of the browser's error page) and time zones are
// filled in from the browser.
(() => {
  'use strict';

  const browserZone = () => {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || '';
    } catch {
      return '';
    }
  };

  // Preselects the browser's zone where the page asks for it, and tells the
  // server where a mood is being logged from.
  const fillTimeZones = () => {
    const zone = browserZone();
    if (!zone) return;
    for (const select of document.querySelectorAll('select[data-detect-timezone]')) {
      if ([...select.options].some((o) => o.value === zone)) select.value = zone;
    }
    for (const input of document.querySelectorAll('input[type=hidden][name=timezone]')) {
      input.value = zone;
    }
  };

  const showError = (form, text) => {
    let alert = form.parentElement.querySelector(':scope > .error[data-client]');
    if (!alert) {
      alert = document.createElement('p');
      alert.className = 'error';
      alert.setAttribute('role', 'alert');
      alert.tabIndex = -1;
      alert.dataset.client = '';
      form.before(alert);
    }
    alert.textContent = text;
    alert.focus();
  };

  // Swaps in the page the server answered with, as a navigation would.
  const show = (html, url, redirected) => {
    const next = new DOMParser().parseFromString(html, 'text/html');
    if (redirected) history.pushState(null, '', url);
    document.title = next.title;
    document.body.replaceWith(document.adoptNode(next.body));
    fillTimeZones();
    const focus = document.querySelector('main .error[role=alert]') || document.getElementById('main');
    if (focus) focus.focus({ preventScroll: !focus.matches('.error') });
    if (!focus || !focus.matches('.error')) window.scrollTo(0, 0);
  };

  document.addEventListener('submit', async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== 'post') return;
    event.preventDefault();
    const button = event.submitter;
    if (button) button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    let response;
    let html;
    try {
      response = await fetch(form.action, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form, button)),
        credentials: 'same-origin',
        headers: { Accept: 'text/html' },
      });
      html = await response.text();
    } catch {
      if (button) button.disabled = false;
      form.removeAttribute('aria-busy');
      showError(form, 'moodlog cannot be reached. Check your connection and try again.');
      return;
    }
    show(html, response.url, response.redirected);
  });

  // Pages swapped in by a form are in the history; going back reloads them.
  window.addEventListener('popstate', () => window.location.reload());

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', fillTimeZones);
  } else {
    fillTimeZones();
  }
})();
