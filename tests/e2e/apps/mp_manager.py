# A script using a multiprocessing Manager: its server process accepts connections
# on a Unix socket, and serves no requests of the application's.
import multiprocessing

if __name__ == "__main__":
    with multiprocessing.Manager() as manager:
        shared = manager.dict()
        shared["answer"] = 42
        print("result", shared["answer"], flush=True)
