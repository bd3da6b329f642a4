// Prints the minified + gzipped size of the IIFE bundle in bytes (budget:
// 12 KB); exits 1 over budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const budget = 12 * 1024;
const raw = readFileSync(new URL("../dist/kyso.iife.js", import.meta.url));
const gz = gzipSync(raw, { level: 9 }).length;
console.log(`dist/kyso.iife.js: ${raw.length} bytes minified, ${gz} bytes minified+gzipped (budget ${budget})`);
if (gz > budget) process.exit(1);
