import { reactive, readonly } from 'vue'
import { connectWebSocket } from './useWebSocket.js'

const HISTORY_POINTS = 150 // 5 minutes of updates, one every 2 s

// One shared connection to `WS api/v1/dashboard/ws` for the whole page: the
// latest update plus a rolling history for the charts.
const state = reactive({ latest: null, history: [], connected: false, error: null })
let connection = null

function remember(message) {
  if (message.type === 'error') {
    state.error = message.message
    return
  }
  if (message.type !== 'update') return
  state.error = null
  state.latest = message
  state.history.push({
    time: new Date(message.timestamp),
    jobsPerSecond: message.window.jobs_per_second,
    successRate: message.window.success_rate,
    latency: message.window.latency_seconds,
    queueDepth: Object.fromEntries(message.models.map((m) => [m.name, m.queue_depth])),
    inFlight: Object.fromEntries(message.models.map((m) => [m.name, m.in_flight])),
  })
  if (state.history.length > HISTORY_POINTS) state.history.shift()
}

export function useDashboard() {
  if (connection === null) {
    connection = connectWebSocket('api/v1/dashboard/ws', remember)
  }
  return { state: readonly(state), connected: connection.connected }
}
