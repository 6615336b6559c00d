/** Shell scripts for busybox test containers (test/support/cri-pod.ts). */

/**
 * Serves HTTP on `port`: /cgi-bin/health answers 200 while /tmp/healthy exists and 503 otherwise,
 * and counts its hits in /tmp/hits; busybox httpd passes a CGI's own status line through.
 */
export function healthServer(port: number): string {
  const cgi = [
    '#!/bin/sh',
    'echo hit >> /tmp/hits',
    'if [ -f /tmp/healthy ]; then printf "HTTP/1.0 200 OK\\r\\n\\r\\nok\\n"; else printf "HTTP/1.0 503 Service Unavailable\\r\\n\\r\\nnot yet\\n"; fi',
  ].join('\n')
  return `mkdir -p /www/cgi-bin && printf '%s\\n' '${cgi.replace(/'/g, `'\\''`)}' > /www/cgi-bin/health && chmod +x /www/cgi-bin/health && httpd -f -p ${port} -h /www & while true; do sleep 0.2; done`
}
