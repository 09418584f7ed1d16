// zdedup: reading ahead on a thread of its own.
//
// A scan of a file copies the next block out of the page cache while it
// hashes this one; a replay decompresses and decodes the next trace frames
// while the shadow index replays this one.  Both are one producer filling a
// ring of Depth items for one consumer, in order, which this class is.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace zdedup {

// What ReadAhead's fill function made of the item it was given.
enum class Fill {
  more,  // an item; more may follow
  last,  // an item, the last one
  none,  // no item: the end
};

template <class T, std::size_t Depth = 2>
class ReadAhead {
  static_assert(Depth >= 2, "one item to consume and one to fill");

 public:
  // Calls @fill on the reader's thread, one item after the other, until it
  // says last or none or throws.  An item is reused once popped, so @fill
  // may keep its buffers.  @init, when given, prepares each item first (on
  // this thread).
  explicit ReadAhead(std::function<Fill(T&)> fill, const std::function<void(T&)>& init = {})
      : fill_(std::move(fill)) {
    if (init)
      for (T& item : items_) init(item);
    thread_ = std::thread([this] { run(); });
  }
  // Also when the consumer stops early (an exception): the reader stops
  // after the item it is filling.
  ~ReadAhead() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // The oldest item not yet popped, waiting for it; nullptr at the end.  An
  // exception of @fill is rethrown here, after the items made before it.
  T* front() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return ready_ > 0 || done_; });
    if (ready_) return &items_[head_];
    if (error_) std::rethrow_exception(error_);
    return nullptr;
  }
  // Hands the front item back to the reader, to be filled again.
  void pop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      head_ = (head_ + 1) % Depth;
      --ready_;
    }
    cv_.notify_all();
  }

 private:
  void run() {
    try {
      for (Fill f = Fill::more; f == Fill::more;) {
        std::size_t i;
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [&] { return ready_ < Depth || stop_; });
          if (stop_) break;
          // Not among the ready items, so the consumer does not read it.
          i = (head_ + ready_) % Depth;
        }
        f = fill_(items_[i]);
        if (f == Fill::none) break;
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++ready_;
        }
        cv_.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
  }

  std::function<Fill(T&)> fill_;
  T items_[Depth];
  std::size_t head_ = 0;   // oldest ready item
  std::size_t ready_ = 0;  // items filled and not yet popped
  bool done_ = false;      // the reader has made its last item, or failed
  bool stop_ = false;      // the consumer is gone
  std::exception_ptr error_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;     // started last, once the rest is built
};

}  // namespace zdedup
