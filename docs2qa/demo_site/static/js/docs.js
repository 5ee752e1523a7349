// Hides the cookie banner once a choice is stored; the docs work without this script.
document.querySelectorAll("#cookie-banner button").forEach(function (button) {
  button.addEventListener("click", function () {
    localStorage.setItem("acme-consent", button.dataset.consent);
    document.getElementById("cookie-banner").classList.add("hidden");
  });
});
if (localStorage.getItem("acme-consent")) {
  document.getElementById("cookie-banner").classList.add("hidden");
}
