import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

type Operation = { responses: Record<string, { content?: Record<string, { schema?: object }> }> };
type Document = { paths: Record<string, Record<string, Operation>> };

/**
 * Checks real answers against the OpenAPI document the server publishes: the status must be one
 * the operation documents, and a JSON body must match its schema. The e2e helpers run every
 * answer they get through it, so the document cannot drift from what the routes send.
 */
export function responseChecker(document: Document) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
  // Templates in order of specificity: literal segments before parameters.
  const templates = Object.keys(document.paths)
    .map((path) => {
      const pattern = path.replace(/[.]/g, '\\.').replace(/\{file\}/g, '.+').replace(/\{\w+\}/g, '[^/]+');
      return { path, regex: new RegExp(`^${pattern}/?$`), params: (path.match(/\{/g) ?? []).length };
    })
    .sort((a, b) => a.params - b.params || b.path.length - a.path.length);
  const compiled = new Map<string, ReturnType<Ajv2020['compile']>>();

  return (method: string, url: string, status: number, contentType: string | null, body: string): void => {
    const pathname = new URL(url, 'http://x').pathname;
    const template = templates.find((candidate) => candidate.regex.test(pathname) && document.paths[candidate.path]![method.toLowerCase()]);
    if (!template) {
      // A path no route serves gets the coded 404 every unknown path gets.
      if (status === 404 && (JSON.parse(body) as { error?: { code?: string } }).error?.code === 'NOT_FOUND') return;
      throw new Error(`${method} ${pathname} answered ${status}, but the OpenAPI document has no such operation`);
    }
    const operation = document.paths[template.path]![method.toLowerCase()]!;
    const documented = operation.responses[String(status)];
    if (!documented) throw new Error(`${method} ${template.path} answered ${status}, which its OpenAPI operation does not document (it documents ${Object.keys(operation.responses).join(', ')}): ${body.slice(0, 300)}`);
    if (!contentType?.startsWith('application/json') || status === 304) return;
    const schema = documented.content?.['application/json']?.schema;
    if (!schema) return;
    const key = `${method} ${template.path} ${status}`;
    let validate = compiled.get(key);
    if (!validate) compiled.set(key, (validate = ajv.compile(schema)));
    if (!validate(JSON.parse(body))) {
      throw new Error(`${key}: the answer does not match its documented schema: ${ajv.errorsText(validate.errors)}; body ${body.slice(0, 500)}`);
    }
  };
}
