# A one-off script that uses multiprocessing with the spawn start method.
import multiprocessing


def work(q):
    q.put(21 * 2)


if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=work, args=(q,))
    p.start()
    print("result", q.get(timeout=60))
    p.join()
