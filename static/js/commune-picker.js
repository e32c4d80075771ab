/* Site form: the commune is chosen from the communes of the lot's region (INSEE code); its
   département and coordinates fill in, and stay adjustable.  The list comes from the
   form's data-communes-url (same origin); no inline script, no innerHTML (strict CSP). */
(function () {
  "use strict";
  var form = document.querySelector("form[data-communes-url]");
  if (!form) { return; }
  var commune = form.querySelector("[name=commune]");
  var insee = form.querySelector("[name=insee]");
  var dep = form.querySelector("[name=departement]");
  var lat = form.querySelector("[name=latitude]");
  var lon = form.querySelector("[name=longitude]");
  if (!commune || !insee) { return; }
  var byLabel = {}, byName = {}, loaded = false, filled = null;

  function label(c) { return c.name + " (" + c.insee + ")"; }

  function load() {
    if (loaded) { return; }
    loaded = true;
    fetch(form.getAttribute("data-communes-url"), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) {
        var datalist = document.createElement("datalist");
        datalist.id = "communes-du-lot";
        list.forEach(function (c) {
          var option = document.createElement("option");
          option.value = label(c);
          datalist.appendChild(option);
          byLabel[label(c)] = c;
          var key = c.name.toLowerCase();
          byName[key] = byName.hasOwnProperty(key) ? null : c;  /* null: homonyms */
        });
        form.appendChild(datalist);
        commune.setAttribute("list", datalist.id);
      });
  }

  function choose() {
    var c = byLabel[commune.value] || byName[commune.value.toLowerCase()];
    if (!c) { return; }
    commune.value = c.name;
    insee.value = c.insee;
    if (dep && !dep.value) { dep.value = c.departement; }
    /* coordinates: filled when empty or still the previous commune's; a hand-adjusted point stays */
    if (lat && lon && ((!lat.value && !lon.value) || (filled && lat.value === filled[0] && lon.value === filled[1]))) {
      lat.value = c.lat;
      lon.value = c.lon;
      filled = [c.lat, c.lon];
    }
  }

  commune.setAttribute("autocomplete", "off");
  commune.addEventListener("focus", load);
  commune.addEventListener("change", choose);
}());
