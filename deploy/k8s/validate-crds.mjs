// Validates the custom resources of rendered manifests against their published schemas (the @kubernetes-models
// packages: compiled JSON-schema validators of each project's CRDs). Run by scripts/check-deploy:
//   node deploy/k8s/validate-crds.mjs <dir with node_modules> <rendered.json>...
// (each file a JSON list of objects). Fails on an invalid object; lists the kinds it has no schema for.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, ...files] = process.argv.slice(2);
const SCHEMAS = {
  "keda.sh/v1alpha1/ScaledObject": "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject.js",
  "monitoring.coreos.com/v1/ServiceMonitor": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.js",
  "monitoring.coreos.com/v1/PrometheusRule": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule.js",
};
const BUILT_IN = /^(v1|apps\/v1|batch\/v1|policy\/v1|autoscaling\/v2|networking\.k8s\.io\/v1|rbac\.authorization\.k8s\.io\/v1)$/;
// validated against the operators' own CRD schemas by validate_vendored_crds.py
const VENDORED = /^(kafka\.strimzi\.io|postgresql\.cnpg\.io)\//;

let failed = 0;
const checked = {};
const unchecked = new Set();
for (const file of files) {
  for (const object of JSON.parse(readFileSync(file, "utf8"))) {
    if (BUILT_IN.test(object.apiVersion) || VENDORED.test(object.apiVersion)) continue;
    const key = `${object.apiVersion}/${object.kind}`;
    const module = SCHEMAS[key];
    if (!module) {
      unchecked.add(key);
      continue;
    }
    const exported = await import(pathToFileURL(join(modules, "node_modules", module)).href);
    try {
      new exported[object.kind](object).validate();
      checked[key] = (checked[key] || 0) + 1;
    } catch (error) {
      failed += 1;
      console.error(`${file}: ${key} ${object.metadata?.name}: ${error.message}`);
    }
  }
}
for (const [key, count] of Object.entries(checked)) console.error(`custom resources: ${count} ${key} valid`);
if (unchecked.size) console.error(`custom resources without a schema package (rendered, not validated): ${[...unchecked].sort().join(", ")}`);
process.exit(failed ? 1 : 0);
