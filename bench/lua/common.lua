-- Prepended to every script (after the `WRK_THREADS = n` line load.py writes). Threads are
-- numbered (setup runs in wrk's main thread, once per thread, just before that thread starts),
-- and each thread after the first starts ~20 ms after the one before: gunicorn's workers share
-- one listening socket, and a single burst of connections is often accepted by one worker alone.
local nthreads = 0
threads = {}
function setup(thread)
  nthreads = nthreads + 1
  threads[nthreads] = thread
  thread:set("tid", nthreads)
end
function stagger()
  if tid and tid > 1 then os.execute("sleep 0.02") end
end
