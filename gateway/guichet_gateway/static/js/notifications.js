/* Live notifications: the unread badge of the navigation and, on /notifications, the list.
 *
 * Server-sent events from /notifications/stream (session cookie). Entries are built with
 * textContent only, never innerHTML: a notification's text can never become markup.
 * The browser reconnects by itself after a dropped stream; when the server refuses the
 * stream (503: too many open streams on that process) we retry later ourselves.
 */
(function () {
  "use strict";
  if (!window.EventSource || window.guichetNotificationsLive) { return; }
  window.guichetNotificationsLive = true; // once per page, even if the layout also loads this file

  var live = document.getElementById("notifications-live");
  var list = document.getElementById("notifications-list");

  function navLink() {
    return document.querySelector('a.govuk-service-navigation__link[href="/notifications"]');
  }

  function setBadge(count) {
    var link = navLink();
    if (!link) { return; }
    var badge = link.querySelector(".guichet-badge");
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "guichet-badge";
      link.appendChild(badge);
    }
    badge.textContent = String(count);
    var hidden = document.createElement("span");
    hidden.className = "govuk-visually-hidden";
    hidden.textContent = count > 1 ? " non lues" : " non lue";
    badge.appendChild(hidden);
  }

  function currentBadge() {
    var link = navLink();
    var badge = link && link.querySelector(".guichet-badge");
    return badge ? parseInt(badge.firstChild.nodeValue, 10) || 0 : 0;
  }

  function hiddenInput(name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    return input;
  }

  function actionForm(action, label, title, classes) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = action;
    form.appendChild(hiddenInput("csrf_token", list.getAttribute("data-csrf") || ""));
    form.appendChild(hiddenInput("suivant", "/notifications"));
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "govuk-button govuk-!-margin-bottom-0 " + classes;
    button.textContent = label;
    var hidden = document.createElement("span");
    hidden.className = "govuk-visually-hidden";
    hidden.textContent = " : " + title;
    button.appendChild(hidden);
    form.appendChild(button);
    return form;
  }

  function prepend(n) {
    if (!list || document.getElementById("notification-" + n.id)) { return; }
    var id = encodeURIComponent(n.id);
    var item = document.createElement("li");
    item.className = "guichet-notification guichet-notification--unread";
    item.id = "notification-" + n.id;
    var h2 = document.createElement("h2");
    h2.className = "govuk-heading-s govuk-!-margin-bottom-1";
    if (n.link || n.demande_id) {
      var a = document.createElement("a");
      a.className = "govuk-link";
      a.href = "/notifications/" + id + "/ouvrir";
      a.textContent = n.title;
      h2.appendChild(a);
    } else {
      h2.appendChild(document.createTextNode(n.title));
    }
    h2.appendChild(document.createTextNode(" "));
    var tag = document.createElement("strong");
    tag.className = "govuk-tag govuk-tag--blue";
    tag.textContent = "Non lue";
    h2.appendChild(tag);
    item.appendChild(h2);
    var date = document.createElement("p");
    date.className = "govuk-body-s govuk-!-margin-bottom-1";
    date.textContent = "À l’instant";
    item.appendChild(date);
    var body = document.createElement("p");
    body.className = "govuk-body guichet-notification__body";
    body.style.whiteSpace = "pre-line";
    body.textContent = n.body || "";
    item.appendChild(body);
    if (n.demande_id) {
      var more = document.createElement("p");
      more.className = "govuk-body";
      var see = document.createElement("a");
      see.className = "govuk-link";
      see.href = "/demandes/" + encodeURIComponent(n.demande_id);
      see.textContent = "Voir la demande";
      var about = document.createElement("span");
      about.className = "govuk-visually-hidden";
      about.textContent = " concernée par « " + n.title + " »";
      see.appendChild(about);
      more.appendChild(see);
      item.appendChild(more);
    }
    var group = document.createElement("div");
    group.className = "govuk-button-group";
    group.appendChild(actionForm("/notifications/" + id + "/lue", "Marquer comme lue", n.title, "govuk-button--secondary"));
    group.appendChild(actionForm("/notifications/" + id + "/supprimer", "Supprimer", n.title, "govuk-button--warning"));
    item.appendChild(group);
    list.insertBefore(item, list.firstChild);
    countOneMore();
  }

  // "N notifications, dont M non lues." follows what the list shows.
  function countOneMore() {
    var summary = document.getElementById("notifications-summary");
    if (!summary) { return; }
    var total = (parseInt(summary.getAttribute("data-total"), 10) || 0) + 1;
    var unread = (parseInt(summary.getAttribute("data-unread"), 10) || 0) + 1;
    summary.setAttribute("data-total", String(total));
    summary.setAttribute("data-unread", String(unread));
    summary.textContent = total + " notification" + (total > 1 ? "s" : "") + ", dont " + unread + " non lue" +
      (unread > 1 ? "s" : "") + ".";
  }

  function announce(text) {
    if (!live) { return; }
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function connect() {
    var source = new EventSource("/notifications/stream");
    source.addEventListener("notification", function (event) {
      var n;
      try { n = JSON.parse(event.data); } catch (e) { return; }
      setBadge(currentBadge() + 1);
      prepend(n);
      announce("Nouvelle notification : " + n.title);
    });
    source.addEventListener("resync", function () {
      announce("De nouvelles notifications sont arrivées. Rechargez la page pour les voir.");
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(connect, 30000 + Math.floor(Math.random() * 10000));
      }
    };
    window.addEventListener("pagehide", function () { source.close(); });
  }

  connect();
}());
