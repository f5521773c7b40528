// "I am on site": the arrival form carries the phone's location when the phone gives it.
// The form posts normally; on submit the script asks for a position (4 s at most), fills
// the hidden latitude and longitude fields and then submits. Without location (refused,
// no GPS, no script) the arrival is recorded all the same.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("form[data-locate]")) return;
  if (form.dataset.located || !("geolocation" in navigator)) return;
  event.preventDefault();
  const send = () => {
    form.dataset.located = "1";
    form.submit();
  };
  navigator.geolocation.getCurrentPosition(
    (position) => {
      form.elements.namedItem("latitude").value = position.coords.latitude.toFixed(6);
      form.elements.namedItem("longitude").value = position.coords.longitude.toFixed(6);
      send();
    },
    send,
    { enableHighAccuracy: true, timeout: 4000, maximumAge: 60000 },
  );
});
