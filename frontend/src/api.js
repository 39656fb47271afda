// A small client for Inferline's HTTP API. Every URL is relative to the page's own
// location, so the dashboard works at `/` and behind a proxy under `/some/prefix/`.

export function baseUrl() {
  return new URL('.', window.location.href.split('#')[0])
}

export function apiUrl(path) {
  return new URL(path.replace(/^\//, ''), baseUrl())
}

export function wsUrl(path) {
  const url = apiUrl(path)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  return url.toString()
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {}
    super(error.message || `HTTP ${status}`)
    this.status = status
    this.code = error.code
    this.details = error.details
  }
}

async function request(method, path, { query, body } = {}) {
  const url = apiUrl(path)
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value)
  }
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const data = await response.json().catch(() => null)
  if (!response.ok) throw new ApiError(response.status, data)
  return data
}

export const api = {
  listJobs: (filters) => request('GET', 'api/v1/jobs', { query: { limit: 100, ...filters } }),
  getJob: (id) => request('GET', `api/v1/jobs/${encodeURIComponent(id)}`),
  timeline: (id) => request('GET', `api/v1/jobs/${encodeURIComponent(id)}/events`),
  submitJob: (model, input, priority = 0) =>
    request('POST', 'api/v1/jobs', { body: { model, input, priority } }),
  cancelJob: (id) => request('DELETE', `api/v1/jobs/${encodeURIComponent(id)}`),
  retryJob: (id) => request('POST', `api/v1/jobs/${encodeURIComponent(id)}/retry`),
  listModels: () => request('GET', 'api/v1/models'),
  getModel: (name) => request('GET', `api/v1/models/${encodeURIComponent(name)}`),
  snapshot: () => request('GET', 'api/v1/dashboard/snapshot'),
  newsFeeds: () => request('GET', 'api/v1/news/feeds'),
  addNewsFeed: (url, intervalSeconds) =>
    request('POST', 'api/v1/news/feeds', { body: { url, interval_seconds: intervalSeconds } }),
}
