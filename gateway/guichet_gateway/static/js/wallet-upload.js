/* Porte-documents upload: checks size and format before sending, shows a progress bar
   (XMLHttpRequest upload progress) and the server's errors. Progressive enhancement: without
   JavaScript the form posts normally and the page shows the same errors. */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var input = form.querySelector("input[type=file]");
  var box = document.getElementById("upload-progress");
  var bar = document.getElementById("upload-progress-bar");
  var text = document.getElementById("upload-progress-text");
  var summary = document.getElementById("upload-error-summary");
  var max = parseInt(form.getAttribute("data-max-bytes"), 10);
  var accepted = form.getAttribute("data-accepted").split(",");
  var button = document.getElementById("upload-submit");
  var sending = false;

  function done() {
    sending = false;
    if (button) { button.disabled = false; button.removeAttribute("aria-disabled"); }
  }

  function clearError() {
    var group = input.closest(".govuk-form-group");
    var old = document.getElementById("file-error");
    if (old) { old.parentNode.removeChild(old); }
    if (group) { group.classList.remove("govuk-form-group--error"); }
    input.classList.remove("govuk-file-upload--error");
    summary.innerHTML = "";
  }

  function showError(message) {
    done();
    clearError();
    box.hidden = true;
    var group = input.closest(".govuk-form-group");
    var p = document.createElement("p");
    p.id = "file-error";
    p.className = "govuk-error-message";
    var hidden = document.createElement("span");
    hidden.className = "govuk-visually-hidden";
    hidden.textContent = "Erreur : ";
    p.appendChild(hidden);
    p.appendChild(document.createTextNode(message));
    if (group) {
      group.classList.add("govuk-form-group--error");
      var label = group.querySelector("label");
      var hint = group.querySelector(".govuk-hint");
      var anchor = hint || label;
      anchor.parentNode.insertBefore(p, anchor.nextSibling);
    }
    input.classList.add("govuk-file-upload--error");
    var div = document.createElement("div");
    div.className = "govuk-error-summary";
    div.setAttribute("data-module", "govuk-error-summary");
    div.innerHTML = '<div role="alert"><h2 class="govuk-error-summary__title"></h2>' +
      '<div class="govuk-error-summary__body"><ul class="govuk-list govuk-error-summary__list">' +
      '<li><a href="#file"></a></li></ul></div></div>';
    div.querySelector("h2").textContent = "Il y a un problème";
    div.querySelector("a").textContent = message;
    summary.appendChild(div);
    div.setAttribute("tabindex", "-1");
    div.focus();
  }

  function check(file) {
    if (!file) { return "Sélectionnez un fichier."; }
    var dot = file.name.lastIndexOf(".");
    var ext = dot >= 0 ? file.name.slice(dot).toLowerCase() : "";
    if (accepted.indexOf(ext) < 0) {
      return "Ce type de fichier n’est pas accepté. Formats acceptés : " + accepted.join(", ");
    }
    if (file.size === 0) { return "Le fichier est vide."; }
    if (file.size > max) {
      return "Le fichier dépasse la taille maximale autorisée (" + form.getAttribute("data-max-label") + ").";
    }
    return null;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending) { return; }
    var file = input.files && input.files[0];
    var problem = check(file);
    if (problem) { showError(problem); return; }
    clearError();
    sending = true;
    if (button) { button.disabled = true; button.setAttribute("aria-disabled", "true"); }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var pct = Math.round((e.loaded * 100) / e.total);
        bar.value = pct;
        bar.textContent = pct + " %";
        text.textContent = "Envoi en cours : " + pct + " %";
      }
    });
    xhr.addEventListener("load", function () {
      var data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (xhr.status === 201 && data && data.redirect) {
        bar.value = 100;
        text.textContent = "Envoi terminé.";
        window.location.assign(data.redirect);
        return;
      }
      var message = (data && data.errors && data.errors.file && data.errors.file[0]) ||
        (data && data.detail) || "L’envoi a échoué. Réessayez.";
      showError(message);
    });
    xhr.addEventListener("error", function () {
      showError("L’envoi a échoué : vérifiez votre connexion puis réessayez.");
    });
    box.hidden = false;
    bar.value = 0;
    text.textContent = "Envoi en cours : 0 %";
    xhr.send(new FormData(form));
  });
})();
