// JSON over fetch with the session cookie and Django's CSRF token.

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(status, data) {
    super(ApiError.describe(status, data));
    this.status = status;
    this.data = data;
  }

  // "field: message" lines, so the operator sees which input to fix; `labelFor` turns the
  // API's field names into the labels on the screen.
  static describe(status, data, labelFor = (field) => field) {
    if (!data || typeof data !== "object") return `HTTP ${status}`;
    if (data.detail) return String(data.detail);
    return Object.entries(data)
      .map(([field, messages]) => `${labelFor(field)}: ${[].concat(messages).join(" ")}`)
      .join("\n");
  }

  explain(labelFor) {
    return ApiError.describe(this.status, this.data, labelFor);
  }
}

// The visible label of the form field that sends `field` (for error messages).
export function labelIn(form, field, aliases = {}) {
  const input = form.querySelector(`[name="${aliases[field] || field}"]`);
  const label = input?.closest("label");
  return label ? label.firstChild.textContent.trim() : field;
}

// What went wrong, for people: labelled field errors, or a plain "no connection".
export function explain(error, labelFor) {
  if (error instanceof ApiError) return error.explain(labelFor);
  return gettext("No connection to the server. Try again in a moment.");
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 || response.status === 403) {
    if (response.status === 401) window.location.assign("/accounts/login/");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Every page of a paginated list.
export async function fetchAll(path) {
  const results = [];
  let next = path;
  while (next) {
    const page = await api(next);
    results.push(...page.results);
    next = page.next ? new URL(page.next).pathname + new URL(page.next).search : null;
  }
  return results;
}
