// "Copy citation": puts a citation's plain text on the clipboard. Without JavaScript (or a
// clipboard) the button stays hidden and the citation can be selected as text.
document.querySelectorAll(".item-citation").forEach((figure) => {
  const button = figure.querySelector(".copy-citation");
  const done = figure.querySelector(".copy-citation-done");
  const text = figure.querySelector(".citation").dataset.citationText;
  if (!button || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      done.textContent = "Copied";
    } catch {
      done.textContent = "Could not copy: select the citation instead";
    }
  });
});
