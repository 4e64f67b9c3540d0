#!/usr/bin/env node
// Compile GOV.UK Frontend 6.3.0 to the city's brand.
//
// Brand (read from the environment at build time):
//   GUICHET_CITY_NAME        default "Ville de Bellerive"
//   GUICHET_BRAND_PRIMARY    default #1d4f91 (header, links, buttons; white text on it must reach 4.5:1)
//   GUICHET_BRAND_SECONDARY  default #f2b705 (decorative accent stripe under the header)
//   GUICHET_BRAND_FONT       default atkinson-hyperlegible (an installed @fontsource/<id> package)
//   GUICHET_BRAND_LOGO       default ../guichet_gateway/static/img/blason-bellerive.svg (SVG or PNG)
//
// Output: ../guichet_gateway/static/dist/ (guichet.css, govuk-frontend.min.js, init.mjs,
// fonts/, logo.svg|png, brand.json, .stamp). Skipped when the stamp (hash of the brand,
// package-lock.json and the build sources) is unchanged; GUICHET_ASSETS_FORCE=1 forces it.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const gatewayPkg = path.resolve(here, "..", "guichet_gateway");
const outDir = path.join(gatewayPkg, "static", "dist");
const modules = path.join(here, "node_modules");

function fail(msg) {
  console.error(`build_assets: ${msg}`);
  process.exit(1);
}

const env = process.env;
const brand = {
  cityName: (env.GUICHET_CITY_NAME || "Ville de Bellerive").trim(),
  primary: (env.GUICHET_BRAND_PRIMARY || "#1d4f91").trim(),
  secondary: (env.GUICHET_BRAND_SECONDARY || "#f2b705").trim(),
  font: (env.GUICHET_BRAND_FONT || "atkinson-hyperlegible").trim(),
  logo: path.resolve(env.GUICHET_BRAND_LOGO || path.join(gatewayPkg, "static", "img", "blason-bellerive.svg")),
};

// ---------- validation ----------
function parseHex(name, value) {
  const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(value);
  if (!m) fail(`${name}="${value}" is not a hex colour like #1d4f91`);
  let hex = m[1].toLowerCase();
  if (hex.length === 3) hex = [...hex].map((c) => c + c).join("");
  return `#${hex}`;
}
function luminance(hex) {
  const ch = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  const lin = ch.map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}
function contrast(a, b) {
  const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (l1 + 0.05) / (l2 + 0.05);
}
brand.primary = parseHex("GUICHET_BRAND_PRIMARY", brand.primary);
brand.secondary = parseHex("GUICHET_BRAND_SECONDARY", brand.secondary);
const ratio = contrast(brand.primary, "#ffffff");
if (ratio < 4.5) {
  fail(
    `GUICHET_BRAND_PRIMARY ${brand.primary} gives a contrast of ${ratio.toFixed(2)}:1 with white; ` +
      "RGAA (criterion 3.2) needs at least 4.5:1 for the header text, links and buttons. Choose a darker colour.",
  );
}
if (!fs.existsSync(brand.logo)) fail(`GUICHET_BRAND_LOGO not found: ${brand.logo}`);
const logoExt = path.extname(brand.logo).toLowerCase();
if (![".svg", ".png"].includes(logoExt)) fail(`GUICHET_BRAND_LOGO must be an .svg or .png file: ${brand.logo}`);

const fontId = brand.font.replace(/^@fontsource\//, "").toLowerCase().replace(/\s+/g, "-");
const fontDir = path.join(modules, "@fontsource", fontId);
if (!fs.existsSync(path.join(fontDir, "metadata.json"))) {
  fail(
    `GUICHET_BRAND_FONT="${brand.font}": package @fontsource/${fontId} is not installed. ` +
      `Add it with: (cd gateway/frontend && npm install --save-exact @fontsource/${fontId})`,
  );
}

// ---------- stamp ----------
const read = (p) => fs.readFileSync(p);
const hash = createHash("sha256");
hash.update(JSON.stringify({ ...brand, logo: undefined }));
for (const p of [
  path.join(here, "package-lock.json"),
  path.join(here, "build.mjs"),
  path.join(here, "src", "guichet.scss"),
  brand.logo,
]) {
  hash.update(read(p));
}
const stamp = hash.digest("hex");
const stampFile = path.join(outDir, ".stamp");
if (
  env.GUICHET_ASSETS_FORCE !== "1" &&
  fs.existsSync(path.join(outDir, "guichet.css")) &&
  fs.existsSync(stampFile) &&
  fs.readFileSync(stampFile, "utf8").trim() === stamp
) {
  console.log(`build_assets: up to date (${path.relative(process.cwd(), outDir) || outDir})`);
  process.exit(0);
}

// ---------- font faces ----------
const meta = JSON.parse(read(path.join(fontDir, "metadata.json")));
const ranges = JSON.parse(read(path.join(fontDir, "unicode.json")));
const subsets = ["latin", "latin-ext"].filter((s) => meta.subsets.includes(s));
const weights = [400, 700].filter((w) => meta.weights.includes(w));
if (!subsets.includes("latin") || weights.length !== 2) {
  fail(`@fontsource/${fontId} must provide the latin subset in weights 400 and 700 (has ${meta.weights}).`);
}
const faces = [];
for (const subset of subsets) {
  for (const weight of weights) {
    faces.push({ subset, weight, file: `${fontId}-${subset}-${weight}-normal`, range: ranges[subset] });
  }
}

// ---------- compile ----------
const sass = await import("sass");
const q = (s) => JSON.stringify(s);
const brandModule = [
  `$primary: ${brand.primary};`,
  `$secondary: ${brand.secondary};`,
  `$font-family: ${q(meta.family)};`,
  `$font-faces: (${faces
    .map((f) => `(weight: ${f.weight}, file: ${q(f.file)}, range: ${q(f.range)})`)
    .join(", ")},);`,
].join("\n");

const result = sass.compile(path.join(here, "src", "guichet.scss"), {
  style: "compressed",
  loadPaths: [modules],
  quietDeps: true,
  importers: [
    {
      canonicalize(url) {
        return url === "guichet:brand" ? new URL("guichet:brand") : null;
      },
      load() {
        return { contents: brandModule, syntax: "scss" };
      },
    },
  ],
});

// ---------- write (to a temp dir, then swap) ----------
const tmp = `${outDir}.tmp-${process.pid}`;
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(path.join(tmp, "fonts"), { recursive: true });
fs.writeFileSync(path.join(tmp, "guichet.css"), result.css + "\n");

const govukDist = path.join(modules, "govuk-frontend", "dist", "govuk");
for (const f of ["govuk-frontend.min.js", "govuk-frontend.min.js.map"]) {
  fs.copyFileSync(path.join(govukDist, f), path.join(tmp, f));
}
// Module scripts only run in browsers GOV.UK Frontend supports: flag <body> then initialise.
fs.writeFileSync(
  path.join(tmp, "init.mjs"),
  'import { initAll } from "./govuk-frontend.min.js";\n' +
    'document.body.classList.add("js-enabled", "govuk-frontend-supported");\n' +
    "initAll();\n",
);
for (const face of faces) {
  for (const ext of ["woff2", "woff"]) {
    fs.copyFileSync(path.join(fontDir, "files", `${face.file}.${ext}`), path.join(tmp, "fonts", `${face.file}.${ext}`));
  }
}
fs.copyFileSync(path.join(fontDir, "LICENSE"), path.join(tmp, "fonts", `${fontId}-LICENSE.txt`));
const logoName = `logo${logoExt}`;
fs.copyFileSync(brand.logo, path.join(tmp, logoName));
fs.writeFileSync(
  path.join(tmp, "brand.json"),
  JSON.stringify(
    {
      city_name: brand.cityName,
      primary: brand.primary,
      secondary: brand.secondary,
      font_family: meta.family,
      font_package: `@fontsource/${fontId}`,
      logo: logoName,
      govuk_frontend: JSON.parse(read(path.join(modules, "govuk-frontend", "package.json"))).version,
    },
    null,
    2,
  ) + "\n",
);
fs.writeFileSync(path.join(tmp, ".stamp"), stamp + "\n");

const old = `${outDir}.old-${process.pid}`;
if (fs.existsSync(outDir)) fs.renameSync(outDir, old);
fs.renameSync(tmp, outDir);
fs.rmSync(old, { recursive: true, force: true });
console.log(
  `build_assets: built ${path.relative(process.cwd(), outDir) || outDir} ` +
    `(${brand.cityName}, ${brand.primary}, ${meta.family}, contrast ${ratio.toFixed(1)}:1)`,
);
