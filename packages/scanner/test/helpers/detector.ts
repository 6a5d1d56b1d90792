/** The real engine with the built-in starter rules, compiled once per test file. */
import { compileRuleSet, engineDetectorWithSpec } from "../../src/rules.js";
import type { Detector, DetectorSpec } from "../../src/types.js";

let cached: { detector: Detector; spec: DetectorSpec } | undefined;

export function starter(): { detector: Detector; spec: DetectorSpec } {
  cached ??= engineDetectorWithSpec(compileRuleSet());
  return cached;
}

export function withRules(source: string): { detector: Detector; spec: DetectorSpec } {
  const { compile } = engineCompile;
  return engineDetectorWithSpec(compile(source));
}

import * as engineCompile from "@vigil/engine";
