/* A form marked data-busy-message shows, when its submission takes more than a second,
   that it is being processed (a status message read by screen readers, the button
   disabled).  Served from 'self' (CSP script-src 'self'), no inline script. */
(function () {
  "use strict";
  var DELAY_MS = 1000;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-busy-message")) { return; }
    window.setTimeout(function () {
      var status = form.querySelector(".fc-busy");
      if (status) {
        status.textContent = form.getAttribute("data-busy-message");
        status.classList.remove("fr-hidden");
        status.classList.add("fr-alert", "fr-alert--info", "fr-alert--sm", "fr-mt-2w");
      }
      form.setAttribute("aria-busy", "true");
      var buttons = form.querySelectorAll("button[type=submit]");
      for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
    }, DELAY_MS);
  });
}());
