// Plots of an evaluation as SVG, specified in Vega-Lite and rendered by Vega (headless, no canvas).

import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { CHEXPERT_LABELS } from "../../common/chexpert.js";
import type { EvalReport } from "./evaluate.js";

async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Clinical F1 per observation (labeler on generated vs reference). */
export function perLabelF1Spec(report: EvalReport): TopLevelSpec {
  const values = CHEXPERT_LABELS.map((label) => ({
    label,
    f1: report.clinical.perLabel[label].f1,
    support: report.clinical.perLabel[label].support,
  }));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: `Clinical F1 per observation (uncertain as ${report.uncertainPolicy})`,
    width: 420,
    height: 320,
    data: { values },
    mark: "bar",
    encoding: {
      y: {
        field: "label",
        type: "nominal",
        sort: [...CHEXPERT_LABELS],
        title: null,
        axis: { labelLimit: 220 },
      },
      x: { field: "f1", type: "quantitative", scale: { domain: [0, 1] }, title: "F1" },
      tooltip: [{ field: "support", type: "quantitative" }],
    },
  };
}

/** TP/FP/FN/TN counts per observation as a heat map. */
export function confusionSpec(report: EvalReport): TopLevelSpec {
  const values = CHEXPERT_LABELS.flatMap((label) => {
    const c = report.clinical.perLabel[label];
    return [
      { label, cell: "TP", count: c.tp },
      { label, cell: "FP", count: c.fp },
      { label, cell: "FN", count: c.fn },
      { label, cell: "TN", count: c.tn },
    ];
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: "Confusion by observation (generated vs reference)",
    width: 320,
    height: 320,
    data: { values },
    encoding: {
      y: {
        field: "label",
        type: "nominal",
        sort: [...CHEXPERT_LABELS],
        title: null,
        axis: { labelLimit: 220 },
      },
      x: {
        field: "cell",
        type: "nominal",
        sort: ["TP", "FP", "FN", "TN"],
        title: "FP = hallucinated, FN = omitted",
        axis: { labelAngle: 0, orient: "top" },
      },
    },
    layer: [
      {
        mark: "rect",
        encoding: { color: { field: "count", type: "quantitative", scale: { scheme: "blues" } } },
      },
      { mark: { type: "text", fontSize: 10 }, encoding: { text: { field: "count", type: "quantitative" } } },
    ],
  };
}

/** Auxiliary-head F1 and AUROC per observation. */
export function headSpec(report: EvalReport): TopLevelSpec | null {
  const head = report.head;
  if (!head) return null;
  const values = CHEXPERT_LABELS.flatMap((label) => [
    { label, metric: "F1", value: head.perLabel[label].f1 },
    ...(head.perLabel[label].auroc === null
      ? []
      : [{ label, metric: "AUROC", value: head.perLabel[label].auroc }]),
  ]);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: "Auxiliary head per observation",
    width: 420,
    height: 320,
    data: { values },
    mark: "bar",
    encoding: {
      y: {
        field: "label",
        type: "nominal",
        sort: [...CHEXPERT_LABELS],
        title: null,
        axis: { labelLimit: 220 },
      },
      yOffset: { field: "metric", type: "nominal" },
      x: { field: "value", type: "quantitative", scale: { domain: [0, 1] }, title: null },
      color: { field: "metric", type: "nominal" },
    },
  };
}

/** File name → SVG text. */
export async function renderPlots(report: EvalReport): Promise<Record<string, string>> {
  const out: Record<string, string> = {
    "per-label-f1.svg": await renderSvg(perLabelF1Spec(report)),
    "confusion-by-observation.svg": await renderSvg(confusionSpec(report)),
  };
  const h = headSpec(report);
  if (h) out["head-per-label.svg"] = await renderSvg(h);
  return out;
}
