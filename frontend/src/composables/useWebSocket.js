import { onBeforeUnmount, ref } from 'vue'
import { wsUrl } from '../api.js'

// Opens a WebSocket to `path` (relative to the page) and reopens it after any
// close, waiting 0.5 s, 1 s, 2 s ... up to 10 s between tries (with jitter).
export function connectWebSocket(path, onMessage, { maxDelayMs = 10000 } = {}) {
  const connected = ref(false)
  let socket = null
  let attempts = 0
  let timer = null
  let stopped = false

  function open() {
    socket = new WebSocket(wsUrl(path))
    socket.onopen = () => {
      connected.value = true
      attempts = 0
    }
    socket.onmessage = (event) => onMessage(JSON.parse(event.data))
    socket.onclose = () => {
      connected.value = false
      if (stopped) return
      const delay = Math.min(maxDelayMs, 500 * 2 ** attempts) * (0.75 + Math.random() / 2)
      attempts += 1
      timer = setTimeout(open, delay)
    }
    socket.onerror = () => socket.close()
  }

  function close() {
    stopped = true
    clearTimeout(timer)
    if (socket) socket.close()
  }

  open()
  return { connected, close }
}

// The same, closed automatically with the component that opened it.
export function useWebSocket(path, onMessage, options) {
  const connection = connectWebSocket(path, onMessage, options)
  onBeforeUnmount(connection.close)
  return connection
}
