// Builds dist/: the ESM module, the minified IIFE (global `Kyso`), the
// VGCA plugin facade (dist/vgcaplugin-compat.js: minified IIFE defining the
// vgca_* globals, its helpers under the global `KysoVgca`) and, by tsc in
// the npm script, the declarations.
import { rmSync } from "node:fs";
import { build } from "esbuild";

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
const common = { entryPoints: ["src/index.ts"], bundle: true, target: "es2022", legalComments: "none", logLevel: "warning" };
await build({ ...common, format: "esm", outfile: "dist/kyso.mjs" });
await build({ ...common, format: "iife", globalName: "Kyso", minify: true, outfile: "dist/kyso.iife.js" });
await build({ ...common, entryPoints: ["src/vgca/index.ts"], format: "iife", globalName: "KysoVgca", minify: true, outfile: "dist/vgcaplugin-compat.js" });
