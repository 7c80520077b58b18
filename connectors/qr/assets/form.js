// QR self-service form: optional help with photos. The form works without
// this script; with it, photos that the server would refuse (too many, too
// large, another type) are pointed out before anything is uploaded. The
// server checks everything again.
(function () {
  "use strict";
  const form = document.getElementById("report");
  const input = document.getElementById("in-photos");
  const problem = document.getElementById("photos-problem");
  if (!form || !input || !problem) return;
  const maxPhotos = Number(form.dataset.maxPhotos) || 0;
  const maxPhoto = Number(form.dataset.maxPhoto) || 0;
  const maxTotal = Number(form.dataset.maxTotal) || 0;
  const zh = document.documentElement.lang.startsWith("zh");
  const types = ["image/jpeg", "image/png", "image/webp"];
  const mb = (n) => (n / 1048576).toFixed(n % 1048576 ? 1 : 0) + " MB";

  function check() {
    const files = Array.from(input.files || []);
    let total = 0;
    let msg = "";
    if (files.length > maxPhotos) {
      msg = zh ? "最多 " + maxPhotos + " 张照片。" : "At most " + maxPhotos + " photos.";
    }
    for (const f of files) {
      total += f.size;
      if (!msg && f.type && !types.includes(f.type)) {
        msg = zh ? "请选择 JPEG、PNG 或 WebP 照片。" : "Please choose JPEG, PNG or WebP photos.";
      }
      if (!msg && f.size > maxPhoto) {
        msg = zh ? "每张照片不超过 " + mb(maxPhoto) + "。" : "Each photo may have at most " + mb(maxPhoto) + ".";
      }
    }
    if (!msg && total > maxTotal) {
      msg = zh ? "照片合计不超过 " + mb(maxTotal) + "。" : "All photos together may have at most " + mb(maxTotal) + ".";
    }
    problem.textContent = msg;
    problem.hidden = !msg;
    input.setCustomValidity(msg);
  }
  input.addEventListener("change", check);
  form.addEventListener("submit", () => {
    const button = document.getElementById("submit");
    // One submission per tap; the form token makes a second one harmless anyway.
    if (button) setTimeout(() => { button.disabled = true; }, 0);
  });
})();
