import asyncio
import httpx
import time
import nest_asyncio
nest_asyncio.apply()

# The lesson's Program 1 ("How the Event Loop Works"), unchanged but for
# the base URL: HTTPBIN_URL (e.g. weft-httpbin's), https://httpbin.org if unset.
import os
BASE_URL = os.environ.get("HTTPBIN_URL", "https://httpbin.org")

# Fetching from a slow endpoint to observe event loop scheduling
async def fetch_slow(client, source, delay):
    print(f"Starting fetch from {source}")
    url = f"{BASE_URL}/delay/{delay}"
    response = await client.get(url)
    response.json()
    print(f"Done fetching from {source}")
    return f"Data from {source}"

async def main():
    start_time = time.time()
    async with httpx.AsyncClient() as client:
        # Running two slow requests concurrently
        results = await asyncio.gather(
            fetch_slow(client, "source_A", 2),
            fetch_slow(client, "source_B", 2),
        )
    elapsed_time = time.time() - start_time
    print(results)
    print(f"Total time: {elapsed_time:.2f}s")  # ~2s, not ~4s

asyncio.run(main())
