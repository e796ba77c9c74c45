// SPDX-License-Identifier: GPL-2.0-only
/*
 * Loop block devices: a block device whose sectors live in a file (or in
 * another block device), plus /dev/loop-control to add, remove and find
 * free devices on demand.
 *
 * Locking
 *
 * loop_index_mutex  guards loop_index_idr: which numbers are taken and which
 *                   slots are published (a reserved or hidden slot holds
 *                   NULL); and loop_free_xa, which holds exactly the
 *                   published devices that are unbound, with the lowest
 *                   of their numbers in loop_free_lowest.
 * loop_chain_mutex  serializes the walks down a chain of loop devices
 *                   stacked on each other (lo_walk_chain()) with the
 *                   detaching and swapping of backing files, so that a walk
 *                   never follows a file that goes away.  It is held only
 *                   for the walk and the swap: never across a backing
 *                   file's I/O, fsync or a queue freeze's wait.
 * lo->lo_mutex      guards the configuration of one device: lo_state,
 *                   lo_flags, lo_offset, lo_sizelimit, lo_file_name,
 *                   lo_backing_file, lo_use_dio, lo_wq and lo_lists.
 *                   Fields the I/O
 *                   path reads are only changed while the device is not
 *                   bound, or with its queue frozen, or at the last close,
 *                   when no I/O can be in flight.
 * lo->lo_lock       (spinlock) lets sysfs readers take a reference on
 *                   lo_backing_file without sleeping on lo_mutex, which is
 *                   held while the sysfs group is removed.
 * lo_worklist.lock  (spinlock, one per CPU and device, taken with
 *                   interrupts off: direct I/O may complete in interrupt
 *                   context) guards that list and its busy flag.
 *                   It nests inside nothing and nothing nests inside it.
 * disk->open_mutex  (block layer) is held around ->open and ->release.
 *
 * Lock order:
 *   disk->open_mutex -> lo->lo_mutex -> loop_chain_mutex -> lo->lo_lock
 *                                    -> loop_index_mutex
 *
 * loop_index_mutex is never held while calling add_disk(), del_gendisk() or
 * anything else that may take disk->open_mutex.  A device enters LO_RUNDOWN
 * or LO_DELETING only under disk->open_mutex, so lo_open() sees those states
 * exactly and nobody can open a device that is going away.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/init.h>
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/falloc.h>
#include <linux/statfs.h>
#include <linux/uio.h>
#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/blk-cgroup.h>
#include <linux/cgroup.h>
#include <linux/memcontrol.h>
#include <linux/sched/mm.h>
#include <linux/idr.h>
#include <linux/kthread.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/miscdevice.h>
#include <linux/major.h>
#include <linux/compat.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>
#include <linux/loop.h>

#ifdef CONFIG_BLK_DEV_LOOP_MIN_COUNT
#define LO_MIN_COUNT		CONFIG_BLK_DEV_LOOP_MIN_COUNT
#else
#define LO_MIN_COUNT		8
#endif

/* Attempts before LOOP_CTL_CONFIGURE gives up on devices bound under it. */
#define LO_CONFIGURE_TRIES	8

#define LO_DEFAULT_QUEUE_DEPTH	128
/* A read this large gets a worker of its own while the list worker is busy. */
#define LO_SPREAD_BYTES		SZ_128K
/* Largest request we accept; max_sectors_kb defaults lower. */
#define LO_MAX_HW_SECTORS	(SZ_4M >> SECTOR_SHIFT)

/*
 * Where a device stands in the index, that is what LOOP_CTL_REMOVE and
 * LOOP_CTL_GET_FREE see of it.  Changed under loop_index_mutex only.
 */
enum lo_listing {
	LO_LIST_ADDING,		/* number reserved, disk being added */
	LO_LIST_PUBLISHED,	/* REMOVE finds it, GET_FREE if unbound */
	LO_LIST_CONFIGURING,	/* held out of sight by LOOP_CTL_CONFIGURE */
	LO_LIST_REMOVING,	/* on its way out */
};

enum lo_state {
	LO_UNBOUND,		/* no backing file */
	LO_BOUND,		/* backing file attached, I/O flows */
	LO_RUNDOWN,		/* to be unbound at the last close */
	LO_DELETING,		/* being removed, cannot be opened */
};

/*
 * Requests of the root cgroup submitted on one CPU, and the work item that
 * drains them in order: see the top of the I/O path.
 */
struct lo_worklist {
	spinlock_t		lock;		/* guards list and busy */
	struct list_head	list;
	bool			busy;		/* work is draining list */
	struct work_struct	work;
	struct loop_device	*lo;
};

struct loop_device {
	int			lo_number;
	enum lo_listing		lo_listing;	/* loop_index_mutex */
	enum lo_state		lo_state;	/* lo_mutex, see above */
	/* Remove at the last close: a device LOOP_CTL_CONFIGURE gave up. */
	bool			lo_reap;	/* disk->open_mutex */
	struct work_struct	lo_reap_work;
	int			lo_flags;	/* LO_FLAGS_*, lo_mutex */
	loff_t			lo_offset;	/* lo_mutex, queue frozen */
	loff_t			lo_sizelimit;	/* lo_mutex, queue frozen */
	char			lo_file_name[LO_NAME_SIZE]; /* lo_mutex */
	struct file		*lo_backing_file; /* lo_mutex and lo_lock */
	gfp_t			lo_old_gfp_mask; /* of the backing mapping */
	bool			lo_use_dio;	/* lo_mutex, queue frozen */
	bool			lo_sysfs_added;	/* lo_mutex */
	/* Both from the first bind to removal, see lo_alloc_workers(). */
	struct workqueue_struct	*lo_wq;
	struct lo_worklist __percpu *lo_lists;
	spinlock_t		lo_lock;	/* see the top of the file */
	struct mutex		lo_mutex;	/* see the top of the file */
	struct gendisk		*lo_disk;
	struct blk_mq_tag_set	lo_tag_set;
};

/*
 * Per-request state, the blk-mq payload of every request.  Every device
 * pays for lo_hw_queue_depth of them, so it is kept small: a request is in
 * the backing file's hands (iocb), or waiting for a worker (work or node),
 * never both, and those share their space.
 */
struct loop_cmd {
	union {
		struct kiocb		iocb;
		struct work_struct	work;	/* a work item of its own */
		struct list_head	node;	/* on an lo_worklist */
	};
	struct bio_vec		*bvec;		/* segments of the whole request */
	unsigned int		nr_bvec;
	unsigned int		done;		/* bytes moved so far */
	bool			bvec_owned;	/* bvec was allocated by us */
	bool			end_remote;	/* on the submitting CPU */
	blk_status_t		status;		/* for lo_complete_rq() */
	atomic_t		holders;	/* of a queued iocb, lo_rw() */
	int			result;		/* of a queued iocb */
};

static DEFINE_IDR(loop_index_idr);
static DEFINE_MUTEX(loop_index_mutex);
/*
 * Unbound devices by number, and the lowest number among them (ULONG_MAX
 * if none), so that GET_FREE answers without a search however many devices
 * are bound; only lo_free_set() changes either.
 */
static DEFINE_XARRAY(loop_free_xa);
static unsigned long loop_free_lowest = ULONG_MAX;
static DEFINE_MUTEX(loop_chain_mutex);
/* Removes the devices LOOP_CTL_CONFIGURE gave up, see lo_give_back(). */
static struct workqueue_struct *loop_reap_wq;

static int lo_max_loop = LO_MIN_COUNT;
static bool lo_max_loop_given;
static int lo_max_part;
static int lo_part_shift;
static int lo_hw_queue_depth = LO_DEFAULT_QUEUE_DEPTH;

static const struct block_device_operations lo_fops;

/* Device numbers run from 0 to lo_max_devices() - 1. */
static unsigned int lo_max_devices(void)
{
	return 1U << (MINORBITS - lo_part_shift);
}

static struct request_queue *lo_queue(struct loop_device *lo)
{
	return lo->lo_disk->queue;
}

/* Size in sectors of a device over @file at @offset, capped by @sizelimit. */
static sector_t lo_sectors(struct file *file, loff_t offset, loff_t sizelimit)
{
	loff_t size = i_size_read(file->f_mapping->host) - offset;

	if (size < 0)
		return 0;
	if (sizelimit > 0 && size > sizelimit)
		size = sizelimit;
	return size >> SECTOR_SHIFT;
}

/* The block device under the backing file, if there is one. */
static struct block_device *lo_backing_bdev(struct file *file)
{
	struct inode *inode = file->f_mapping->host;

	if (S_ISBLK(inode->i_mode))
		return I_BDEV(inode);
	return inode->i_sb->s_bdev;
}

static void lo_set_capacity(struct loop_device *lo, sector_t sectors)
{
	/* A size change from or to zero is not a resize; still tell udev. */
	if (!set_capacity_and_notify(lo->lo_disk, sectors))
		kobject_uevent(&disk_to_dev(lo->lo_disk)->kobj, KOBJ_CHANGE);
}

/*
 * The I/O path.
 *
 * The rule: the backing file's own code (->read_iter, ->write_iter,
 * fallocate, fsync, anything that may enter a file system) runs only in a
 * kworker, never in the task that submitted the request.  queue_rq() runs
 * inside that task's submit_bio(), and what the task carries there is not
 * ours to lend to another file system:
 *
 *  - current->bio_list: a bio the backing file system submits is parked
 *    there until queue_rq() returns, so a lower ext4 reading an extent
 *    block (or xfs its extent list) for our read would wait forever;
 *  - current->journal_info: the upper file system's journal handle, which
 *    a lower ext4 updating the file's access time takes for its own and
 *    trips over in jbd2 (a lower btrfs or xfs misreads it too);
 *  - its signals and RLIMIT_FSIZE: a killed task's writeback, or a write
 *    past the task's file size limit, would fail with EIO and SIGXFSZ,
 *    though the device is not a file of that task;
 *  - its stack, already deep in the upper file system.
 *
 * A kworker carries none of these.  So queue_rq() only starts a request
 * and hands it over; it never sleeps, and the queue is not BLK_MQ_F_BLOCKING.
 *
 * Requests of the root cgroup (which cannot be throttled) join the list
 * of the CPU that submits them, one per CPU and device (struct
 * lo_worklist), which one work item drains in order: a deep queue costs
 * one worker, not one per request, and tasks submitting on different CPUs
 * have their requests moved by different workers at the same time.  The
 * workqueue is unbound, so a list's worker runs wherever the scheduler
 * finds room, not necessarily beside its submitter.  A request charged to
 * another cgroup gets a work item of its own, run in that cgroup's name,
 * so that a throttled cgroup never holds up another's I/O; so does a large
 * read that finds the list worker busy, so that two CPUs copy at once
 * (lo_list_add()).  Reads and writes go through the backing file with one
 * bvec iterator over the whole request; a partial transfer continues
 * where it stopped.  Direct I/O completes asynchronously in
 * lo_rw_complete().  A copy the worker made ends on the submitting CPU.
 */

static void lo_cmd_end(struct loop_cmd *cmd, blk_status_t status)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);

	if (cmd->bvec_owned)
		kfree(cmd->bvec);
	if (cmd->end_remote) {
		/*
		 * A copy the worker made: blk-mq ends it on the CPU that
		 * submitted it, so that the completions up the stack (io_uring's,
		 * say) run there and the worker gets on with the next request.
		 */
		cmd->status = status;
		blk_mq_complete_request(rq);
		return;
	}
	blk_mq_end_request(rq, status);
}

static void lo_complete_rq(struct request *rq)
{
	struct loop_cmd *cmd = blk_mq_rq_to_pdu(rq);

	blk_mq_end_request(rq, cmd->status);
}

/* Describe the whole request as one array of bio_vecs. */
static int lo_cmd_map(struct loop_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct req_iterator it;
	struct bio_vec bv, *table;
	unsigned int n = 0;

	if (cmd->bvec)
		return 0;

	rq_for_each_bvec(bv, rq, it)
		n++;

	if (rq->bio == rq->biotail) {
		/* One bio: use its table, see lo_cmd_skip(). */
		cmd->bvec = __bvec_iter_bvec(rq->bio->bi_io_vec,
					     rq->bio->bi_iter);
	} else {
		table = kmalloc_array(n, sizeof(*table), GFP_NOIO);
		if (!table)
			return -ENOMEM;
		n = 0;
		rq_for_each_bvec(bv, rq, it)
			table[n++] = bv;
		cmd->bvec = table;
		cmd->bvec_owned = true;
	}
	cmd->nr_bvec = n;
	return 0;
}

/*
 * Bytes of cmd->bvec[0] before the request's data: a bio's own table may
 * start in the middle of a segment.
 */
static unsigned int lo_cmd_skip(struct loop_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);

	return cmd->bvec_owned ? 0 : rq->bio->bi_iter.bi_bvec_done;
}

/* An iterator over what is left of the request. */
static void lo_cmd_iter(struct loop_cmd *cmd, struct iov_iter *iter)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	unsigned int dir = op_is_write(req_op(rq)) ? ITER_SOURCE : ITER_DEST;
	unsigned int skip = lo_cmd_skip(cmd);

	iov_iter_bvec(iter, dir, cmd->bvec, cmd->nr_bvec,
		      skip + blk_rq_bytes(rq));
	iov_iter_advance(iter, skip + cmd->done);
}

static loff_t lo_rq_pos(struct loop_device *lo, struct request *rq)
{
	return ((loff_t)blk_rq_pos(rq) << SECTOR_SHIFT) + lo->lo_offset;
}

static void lo_punt(struct loop_device *lo, struct loop_cmd *cmd);

/*
 * Account the result of one ->read_iter() or ->write_iter() call.  Returns
 * true if that ended the request, false if some of it is left to move.
 */
static bool lo_rw_result(struct loop_cmd *cmd, long ret)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct iov_iter iter;

	if (ret < 0) {
		lo_cmd_end(cmd, errno_to_blk_status(ret));
		return true;
	}

	cmd->done += ret;
	if (cmd->done >= blk_rq_bytes(rq)) {
		lo_cmd_end(cmd, BLK_STS_OK);
		return true;
	}
	if (ret == 0) {
		/* The backing file ends inside the device. */
		if (req_op(rq) == REQ_OP_READ) {
			lo_cmd_iter(cmd, &iter);
			iov_iter_zero(iov_iter_count(&iter), &iter);
		}
		lo_cmd_end(cmd, BLK_STS_IOERR);
		return true;
	}
	return false;
}

static void lo_rw_complete(struct kiocb *iocb, long ret)
{
	struct loop_cmd *cmd = container_of(iocb, struct loop_cmd, iocb);
	struct request *rq = blk_mq_rq_from_pdu(cmd);

	if (req_op(rq) == REQ_OP_WRITE)
		kiocb_end_write(iocb);
	cmd->result = ret;
	/* Still inside ->read_iter() or ->write_iter(): lo_rw() goes on. */
	if (!atomic_dec_and_test(&cmd->holders))
		return;
	/* Ended where the backing file completed it, not redirected. */
	cmd->end_remote = false;
	/* Possibly in interrupt context: the rest is a worker's. */
	if (!lo_rw_result(cmd, ret))
		lo_punt(rq->q->queuedata, cmd);
}

/* Move the rest of a READ or WRITE request; called by a worker only. */
static void lo_rw(struct loop_device *lo, struct loop_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct file *file = lo->lo_backing_file;
	bool write = req_op(rq) == REQ_OP_WRITE;
	struct kiocb *iocb = &cmd->iocb;
	struct iov_iter iter;
	ssize_t ret;

	if (lo_cmd_map(cmd)) {
		lo_cmd_end(cmd, BLK_STS_RESOURCE);
		return;
	}

	do {
		lo_cmd_iter(cmd, &iter);
		*iocb = (struct kiocb) {
			.ki_filp	= file,
			.ki_pos		= lo_rq_pos(lo, rq) + cmd->done,
			.ki_ioprio	= req_get_ioprio(rq),
		};
		if (lo->lo_use_dio) {
			iocb->ki_flags = IOCB_DIRECT;
			iocb->ki_complete = lo_rw_complete;
			/*
			 * A file system may still read the iocb after queueing
			 * it (ext4 updates the access time through ki_filp),
			 * while the I/O completes on another CPU.  Both sides
			 * hold the request; the last to let go goes on with it.
			 */
			atomic_set(&cmd->holders, 2);
		}

		if (write) {
			kiocb_start_write(iocb);
			ret = file->f_op->write_iter(iocb, &iter);
		} else {
			ret = file->f_op->read_iter(iocb, &iter);
		}
		if (ret == -EIOCBQUEUED) {
			/* Not complete yet: lo_rw_complete() goes on. */
			if (!atomic_dec_and_test(&cmd->holders))
				return;
			/* Complete already, write freeze protection dropped. */
			ret = cmd->result;
		} else if (write) {
			kiocb_end_write(iocb);
		}
	} while (!lo_rw_result(cmd, ret));
}

static void lo_drop_limits(struct loop_device *lo, int mode)
{
	struct queue_limits lim = queue_limits_start_update(lo_queue(lo));

	if (mode & FALLOC_FL_ZERO_RANGE) {
		lim.max_write_zeroes_sectors = 0;
	} else {
		lim.max_hw_discard_sectors = 0;
		lim.discard_granularity = 0;
	}
	queue_limits_commit_update(lo_queue(lo), &lim);
}

/* Discard and write-zeroes: deallocate or zero a range of the file. */
static int lo_fallocate(struct loop_device *lo, struct request *rq, int mode)
{
	int ret;

	ret = vfs_fallocate(lo->lo_backing_file, mode | FALLOC_FL_KEEP_SIZE,
			    lo_rq_pos(lo, rq), blk_rq_bytes(rq));
	/* We advertised it on hope; stop the block layer from retrying. */
	if (ret == -EOPNOTSUPP)
		lo_drop_limits(lo, mode);
	return ret;
}

static void lo_handle_cmd(struct loop_device *lo, struct loop_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	int ret;

	switch (req_op(rq)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		lo_rw(lo, cmd);
		return;
	case REQ_OP_FLUSH:
		ret = vfs_fsync(lo->lo_backing_file, 0);
		break;
	case REQ_OP_DISCARD:
		ret = lo_fallocate(lo, rq, FALLOC_FL_PUNCH_HOLE);
		break;
	case REQ_OP_WRITE_ZEROES:
		ret = lo_fallocate(lo, rq, (rq->cmd_flags & REQ_NOUNMAP) ?
				   FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE);
		break;
	default:
		ret = -EIO;
		break;
	}
	lo_cmd_end(cmd, errno_to_blk_status(ret));
}

/*
 * What every worker sets around lo_handle_cmd(): no I/O recursion into
 * memory reclaim, and writeback to the backing file must not wait on the
 * dirty pages of the device it serves.
 */
struct lo_worker_state {
	unsigned int noio;
	unsigned int throttle;
};

static void lo_worker_enter(struct lo_worker_state *ws)
{
	ws->noio = memalloc_noio_save();
	ws->throttle = current->flags & PF_LOCAL_THROTTLE;
	current->flags |= PF_LOCAL_THROTTLE;
}

static void lo_worker_leave(struct lo_worker_state *ws)
{
	current->flags = (current->flags & ~PF_LOCAL_THROTTLE) | ws->throttle;
	memalloc_noio_restore(ws->noio);
}

/* The blkcg a request is charged to, if it is not the root. */
static struct cgroup_subsys_state *lo_rq_cgroup(struct request *rq)
{
#ifdef CONFIG_BLK_CGROUP
	struct cgroup_subsys_state *css;

	if (!rq->bio)
		return NULL;
	css = bio_blkcg_css(rq->bio);
	return css && css->parent ? css : NULL;
#else
	return NULL;
#endif
}

/*
 * A request with a work item of its own: one charged to a cgroup, run in
 * that cgroup's name, or a large read (lo_list_add()).
 */
static void lo_workfn(struct work_struct *work)
{
	struct loop_cmd *cmd = container_of(work, struct loop_cmd, work);
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct cgroup_subsys_state *blkcg_css = lo_rq_cgroup(rq);
	struct lo_worker_state ws;
#ifdef CONFIG_MEMCG
	struct cgroup_subsys_state *memcg_css = NULL;
	struct mem_cgroup *old_memcg = NULL;

	/* Page cache the backing file takes in is the submitter's. */
	if (blkcg_css) {
		memcg_css = cgroup_get_e_css(blkcg_css->cgroup,
					     &memory_cgrp_subsys);
		old_memcg = set_active_memcg(mem_cgroup_from_css(memcg_css));
	}
#endif
	lo_worker_enter(&ws);
	if (blkcg_css)
		kthread_associate_blkcg(blkcg_css);

	/* The request may be completed and reused from here on. */
	lo_handle_cmd(rq->q->queuedata, cmd);

	if (blkcg_css)
		kthread_associate_blkcg(NULL);
	lo_worker_leave(&ws);
#ifdef CONFIG_MEMCG
	if (memcg_css) {
		set_active_memcg(old_memcg);
		css_put(memcg_css);
	}
#endif
}

/* Requests of the root cgroup from one CPU, in the order they came. */
static void lo_list_workfn(struct work_struct *work)
{
	struct lo_worklist *wl = container_of(work, struct lo_worklist, work);
	struct loop_cmd *cmd, *next;
	struct lo_worker_state ws;
	LIST_HEAD(batch);

	lo_worker_enter(&ws);
	spin_lock_irq(&wl->lock);
	while (!list_empty(&wl->list)) {
		/* We look at the list again before we return: lo_list_add(). */
		wl->busy = true;
		list_splice_init(&wl->list, &batch);
		spin_unlock_irq(&wl->lock);

		list_for_each_entry_safe(cmd, next, &batch, node) {
			/* Off the list first: node is part of the iocb. */
			list_del(&cmd->node);
			lo_handle_cmd(wl->lo, cmd);
		}
		cond_resched();
		spin_lock_irq(&wl->lock);
	}
	wl->busy = false;
	spin_unlock_irq(&wl->lock);
	lo_worker_leave(&ws);
}

/*
 * Whether the worker's part of a request is a copy, or a wait for direct
 * I/O to a device.  Only a copy gains from ending the request on the
 * submitting CPU; a worker that waits is idle anyway, and for it the
 * detour through the block softirq is only a cost.
 */
static bool lo_worker_copies(struct loop_device *lo)
{
	return !lo->lo_use_dio || shmem_mapping(lo->lo_backing_file->f_mapping);
}

/*
 * Whether a request is a large copy out of the backing file.  Reads take no
 * lock of the file's own, so two of them run side by side, and a copy this
 * large costs more than waking another worker for it.  Writes would only
 * wait for each other on the inode lock.
 */
static bool lo_rq_spreads(struct loop_device *lo, struct request *rq)
{
	return req_op(rq) == REQ_OP_READ &&
	       blk_rq_bytes(rq) >= LO_SPREAD_BYTES && lo_worker_copies(lo);
}

/*
 * Add a root-cgroup request to the list of the CPU we run on (any list
 * would do: each has its own lock).  Returns false, with the list
 * untouched, for a large read that finds the list worker busy: it would
 * wait for that worker's copy while the CPU that submitted it has nothing
 * to do, so another worker copies it meanwhile, likely on that CPU.
 */
static bool lo_list_add(struct loop_device *lo, struct loop_cmd *cmd)
{
	struct lo_worklist *wl = raw_cpu_ptr(lo->lo_lists);
	unsigned long flags;
	bool idle;

	spin_lock_irqsave(&wl->lock, flags);
	/*
	 * A non-empty list has its work item queued already, and a worker
	 * that is draining the list takes this request before it returns.
	 * Queueing the item again while it runs would only wake another
	 * kworker to find it busy, and run it once more for nothing.
	 */
	idle = list_empty(&wl->list) && !wl->busy;
	if (!idle && lo_rq_spreads(lo, blk_mq_rq_from_pdu(cmd))) {
		spin_unlock_irqrestore(&wl->lock, flags);
		return false;
	}
	list_add_tail(&cmd->node, &wl->list);
	spin_unlock_irqrestore(&wl->lock, flags);
	if (idle)
		queue_work(lo->lo_wq, &wl->work);
	return true;
}

/* Hand a request to a worker; never sleeps, may run in interrupt context. */
static void lo_punt(struct loop_device *lo, struct loop_cmd *cmd)
{
	cmd->end_remote = lo_worker_copies(lo);
	if (!lo_rq_cgroup(blk_mq_rq_from_pdu(cmd)) && lo_list_add(lo, cmd))
		return;
	INIT_WORK(&cmd->work, lo_workfn);
	queue_work(lo->lo_wq, &cmd->work);
}

static blk_status_t lo_queue_rq(struct blk_mq_hw_ctx *hctx,
				const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct loop_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct loop_device *lo = rq->q->queuedata;

	if (READ_ONCE(lo->lo_state) != LO_BOUND)
		return BLK_STS_IOERR;
	if (op_is_write(req_op(rq)) &&
	    (READ_ONCE(lo->lo_flags) & LO_FLAGS_READ_ONLY))
		return BLK_STS_IOERR;

	blk_mq_start_request(rq);
	cmd->bvec = NULL;
	cmd->bvec_owned = false;
	cmd->done = 0;
	/* Nothing of the backing file here: see the top of the I/O path. */
	lo_punt(lo, cmd);
	return BLK_STS_OK;
}

static const struct blk_mq_ops lo_mq_ops = {
	.queue_rq	= lo_queue_rq,
	.complete	= lo_complete_rq,
};

/*
 * Per-device ioctls: binding, unbinding and configuring a device, and the
 * helpers they share; lo_ioctl() at the end of the section dispatches them.
 */

/*
 * Can a device of block size @lo_bsize do direct I/O on @file at @offset?
 * lo_can_dio(): can the device as it is set up now?
 */
static bool lo_file_can_dio(struct file *file, unsigned int lo_bsize,
			    loff_t offset)
{
	struct block_device *bdev = lo_backing_bdev(file);
	unsigned int bsize;

	if (!(file->f_mode & FMODE_CAN_ODIRECT))
		return false;
	if (!bdev)
		return true;
	bsize = bdev_logical_block_size(bdev);
	return lo_bsize >= bsize && !(offset & (bsize - 1));
}

static bool lo_can_dio(struct loop_device *lo)
{
	return lo_file_can_dio(lo->lo_backing_file,
			       queue_logical_block_size(lo_queue(lo)),
			       lo->lo_offset);
}

/*
 * Switch direct I/O on if @want and possible, off otherwise.  No request
 * may run meanwhile: the caller has frozen the queue, or the device is not
 * bound yet.
 */
static void lo_switch_dio(struct loop_device *lo, bool want)
{
	bool use = want && lo_can_dio(lo);

	/*
	 * Direct I/O must not overtake what buffered writes left in the page
	 * cache.  With the queue frozen no new one can come in.
	 */
	if (use && !lo->lo_use_dio)
		vfs_fsync(lo->lo_backing_file, 0);
	lo->lo_use_dio = use;
	if (use)
		lo->lo_flags |= LO_FLAGS_DIRECT_IO;
	else
		lo->lo_flags &= ~LO_FLAGS_DIRECT_IO;
}

/* lo_switch_dio() on a bound device, freezing its queue if it changes. */
static void lo_update_dio(struct loop_device *lo, bool want)
{
	if ((want && lo_can_dio(lo)) == lo->lo_use_dio)
		return;
	blk_mq_freeze_queue(lo_queue(lo));
	lo_switch_dio(lo, want);
	blk_mq_unfreeze_queue(lo_queue(lo));
}

/* Queue limits for a device over @file with @flags and block size @bsize. */
static void lo_fill_limits(struct file *file, int flags, unsigned int bsize,
			   struct queue_limits *lim)
{
	struct inode *inode = file->f_mapping->host;
	struct block_device *bdev = lo_backing_bdev(file);
	u32 discard_sectors = 0, granularity = 0;
	struct kstatfs st;

	/* Direct I/O to a block device wants at least its block size. */
	if (!bsize)
		bsize = (bdev && (flags & LO_FLAGS_DIRECT_IO)) ?
			bdev_logical_block_size(bdev) : SECTOR_SIZE;

	if (S_ISBLK(inode->i_mode)) {
		/* blkdev_fallocate() zeroes, so mirror the zeroing limits. */
		discard_sectors = bdev_write_zeroes_sectors(I_BDEV(inode));
		granularity = bdev_discard_granularity(I_BDEV(inode));
	} else if (file->f_op->fallocate && !vfs_statfs(&file->f_path, &st)) {
		discard_sectors = UINT_MAX >> SECTOR_SHIFT;
		granularity = st.f_bsize;
	}

	lim->logical_block_size = bsize;
	lim->physical_block_size = bsize;
	lim->io_min = bsize;
	lim->max_hw_discard_sectors = discard_sectors;
	lim->max_write_zeroes_sectors = discard_sectors;
	lim->discard_granularity = discard_sectors ? granularity : 0;

	lim->features &= ~(BLK_FEAT_WRITE_CACHE | BLK_FEAT_ROTATIONAL);
	if (file->f_op->fsync && !(flags & LO_FLAGS_READ_ONLY))
		lim->features |= BLK_FEAT_WRITE_CACHE;
	if (bdev && !bdev_nonrot(bdev))
		lim->features |= BLK_FEAT_ROTATIONAL;
}

/* Sanity of a loop_info64 handed in by SET_STATUS or CONFIGURE. */
static int lo_check_info(const struct loop_info64 *info)
{
	/* Encryption was removed in 5.19; only "none" is left. */
	if (info->lo_encrypt_type != LO_CRYPT_NONE ||
	    info->lo_encrypt_key_size > LO_KEY_SIZE)
		return -EINVAL;
	if (info->lo_offset > LLONG_MAX || info->lo_sizelimit > LLONG_MAX)
		return -EOVERFLOW;
	return 0;
}

static void lo_set_file_name(struct loop_device *lo,
			     const struct loop_info64 *info)
{
	memcpy(lo->lo_file_name, info->lo_file_name, LO_NAME_SIZE);
	lo->lo_file_name[LO_NAME_SIZE - 1] = '\0';
}

/* A backing file must be a regular file or a block device we can read. */
static int lo_check_backing(struct file *file)
{
	umode_t mode = file_inode(file)->i_mode;

	if (!S_ISREG(mode) && !S_ISBLK(mode))
		return -EINVAL;
	if (!file->f_op->read_iter)
		return -EINVAL;
	if ((file->f_mode & FMODE_WRITE) && !file->f_op->write_iter)
		return -EINVAL;
	return 0;
}

/*
 * Follow @file down a chain of loop devices.  It must not lead back to @lo,
 * which would make I/O recurse forever, and every device on the way must
 * be bound.  loop_chain_mutex, held by the caller, serializes the walks
 * and keeps each backing file on the way attached while we look at it.
 *
 * A device being bound is not bound yet, so nobody's walk passes through
 * it: of two binds that would close a ring, the one that walks later
 * finds the other unbound, or finds itself.  LOOP_CHANGE_FD swaps a bound
 * device's file, so it walks and swaps under one hold of the mutex.
 */
static int lo_walk_chain(struct loop_device *lo, struct file *file)
{
	struct inode *inode = file->f_mapping->host;
	struct gendisk *disk;
	struct loop_device *next;

	lockdep_assert_held(&loop_chain_mutex);

	while (S_ISBLK(inode->i_mode)) {
		disk = I_BDEV(inode)->bd_disk;
		if (disk->fops != &lo_fops)
			break;
		if (disk == lo->lo_disk)
			return -EBADF;
		next = disk->private_data;
		/* Pairs with the release in lo_configure(): the file is set. */
		if (smp_load_acquire(&next->lo_state) != LO_BOUND)
			return -EINVAL;
		inode = next->lo_backing_file->f_mapping->host;
	}
	return 0;
}

static int lo_check_chain(struct loop_device *lo, struct file *file)
{
	int err;

	mutex_lock(&loop_chain_mutex);
	err = lo_walk_chain(lo, file);
	mutex_unlock(&loop_chain_mutex);
	return err;
}

/* Our own I/O must not recurse into the filesystem through reclaim. */
static void lo_attach_file(struct loop_device *lo, struct file *file)
{
	lo->lo_old_gfp_mask = mapping_gfp_mask(file->f_mapping);
	mapping_set_gfp_mask(file->f_mapping,
			     lo->lo_old_gfp_mask & ~(__GFP_IO | __GFP_FS));
	spin_lock_irq(&lo->lo_lock);
	lo->lo_backing_file = file;
	spin_unlock_irq(&lo->lo_lock);
}

/* Under loop_chain_mutex, so that no lo_walk_chain() sees the file go. */
static struct file *lo_detach_file(struct loop_device *lo)
{
	struct file *file = lo->lo_backing_file;

	lockdep_assert_held(&loop_chain_mutex);
	spin_lock_irq(&lo->lo_lock);
	lo->lo_backing_file = NULL;
	spin_unlock_irq(&lo->lo_lock);
	mapping_set_gfp_mask(file->f_mapping, lo->lo_old_gfp_mask);
	return file;
}

/*
 * Enter device @nr into the set of free devices as @lo, or take it out if
 * @lo is NULL.  Should the store fail for want of memory, GET_FREE merely
 * adds a device instead.  Removing the lowest looks for the next one, so
 * that binding costs the search GET_FREE is spared.
 */
static void lo_free_set(unsigned long nr, struct loop_device *lo)
{
	lockdep_assert_held(&loop_index_mutex);
	if (lo) {
		if (!xa_is_err(xa_store(&loop_free_xa, nr, lo, GFP_KERNEL)))
			loop_free_lowest = min(loop_free_lowest, nr);
		return;
	}
	xa_erase(&loop_free_xa, nr);
	if (nr == loop_free_lowest &&
	    !xa_find_after(&loop_free_xa, &loop_free_lowest, ULONG_MAX,
			   XA_PRESENT))
		loop_free_lowest = ULONG_MAX;
}

/*
 * The one place that changes a device's listing.  It keeps the set of free
 * devices exact: published and unbound.  A device is published with its
 * lo_mutex held, so that its state cannot change under the look at it.
 */
static void lo_set_listing(struct loop_device *lo, enum lo_listing listing)
{
	bool free;

	lockdep_assert_held(&loop_index_mutex);
	lo->lo_listing = listing;
	free = listing == LO_LIST_PUBLISHED &&
	       READ_ONCE(lo->lo_state) == LO_UNBOUND;
	lo_free_set(lo->lo_number, free ? lo : NULL);
}

/* Bound or unbound: keep the free set exact.  Called with lo_mutex held. */
static void lo_index_update(struct loop_device *lo)
{
	lockdep_assert_held(&lo->lo_mutex);
	mutex_lock(&loop_index_mutex);
	lo_set_listing(lo, lo->lo_listing);
	mutex_unlock(&loop_index_mutex);
}

/* Make a device visible to REMOVE and GET_FREE. */
static void lo_publish(struct loop_device *lo)
{
	mutex_lock(&lo->lo_mutex);
	mutex_lock(&loop_index_mutex);
	lo_set_listing(lo, LO_LIST_PUBLISHED);
	mutex_unlock(&loop_index_mutex);
	mutex_unlock(&lo->lo_mutex);
}

static void lo_reread_partitions(struct loop_device *lo)
{
	struct gendisk *disk = lo->lo_disk;
	int err;

	mutex_lock(&disk->open_mutex);
	err = bdev_disk_changed(disk, false);
	mutex_unlock(&disk->open_mutex);
	if (err)
		pr_warn("%s: partition scan failed: %d\n", disk->disk_name, err);
}

/*
 * The workqueue and the per-CPU lists, at the first bind: a device that is
 * never bound does not pay for them.  Kept until removal, since destroying
 * the workqueue would cost every unbind a flush.
 */
static int lo_alloc_workers(struct loop_device *lo)
{
	struct lo_worklist *wl;
	int cpu;

	if (lo->lo_wq)
		return 0;
	lo->lo_lists = alloc_percpu(struct lo_worklist);
	if (!lo->lo_lists)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		wl = per_cpu_ptr(lo->lo_lists, cpu);
		spin_lock_init(&wl->lock);
		INIT_LIST_HEAD(&wl->list);
		INIT_WORK(&wl->work, lo_list_workfn);
		wl->lo = lo;
	}
	lo->lo_wq = alloc_workqueue("loop%d", WQ_UNBOUND | WQ_FREEZABLE, 0,
				    lo->lo_number);
	if (!lo->lo_wq) {
		free_percpu(lo->lo_lists);
		lo->lo_lists = NULL;
		return -ENOMEM;
	}
	return 0;
}

static const struct attribute_group lo_attr_group;

static int lo_configure(struct loop_device *lo, blk_mode_t mode,
			struct block_device *bdev,
			const struct loop_config *config)
{
	const struct loop_info64 *info = &config->info;
	struct gendisk *disk = lo->lo_disk;
	bool strict = info->lo_flags & LO_FLAGS_STRICT;
	struct queue_limits lim;
	struct file *file;
	bool partscan, want_dio;
	int flags;
	int err;

	if (info->lo_flags & ~(LOOP_CONFIGURE_SETTABLE_FLAGS | LO_FLAGS_STRICT))
		return -EINVAL;
	if (config->block_size && blk_validate_block_size(config->block_size))
		return -EINVAL;
	err = lo_check_info(info);
	if (err)
		return err;

	file = fget(config->fd);
	if (!file)
		return -EBADF;
	err = lo_check_backing(file);
	if (err)
		goto out_put_file;

	/* Keep exclusive openers out while we change the device under them. */
	if (!(mode & BLK_OPEN_EXCL)) {
		err = bd_prepare_to_claim(bdev, lo, NULL);
		if (err)
			goto out_put_file;
	}
	err = mutex_lock_killable(&lo->lo_mutex);
	if (err)
		goto out_abort_claim;

	err = -EBUSY;
	if (lo->lo_state != LO_UNBOUND)
		goto out_unlock;
	err = lo_check_chain(lo, file);
	if (err)
		goto out_unlock;

	/* LO_FLAGS_STRICT asks, it is not a property of the device. */
	flags = info->lo_flags & ~LO_FLAGS_STRICT;
	if (!(file->f_mode & FMODE_WRITE) || !(mode & BLK_OPEN_WRITE) ||
	    !file->f_op->write_iter)
		flags |= LO_FLAGS_READ_ONLY;
	if (lo_part_shift)
		flags |= LO_FLAGS_PARTSCAN;
	want_dio = (flags & LO_FLAGS_DIRECT_IO) || (file->f_flags & O_DIRECT);

	/* Strict: what was asked for holds, or nothing is bound. */
	err = -EROFS;
	if (strict && (flags & ~info->lo_flags & LO_FLAGS_READ_ONLY))
		goto out_unlock;

	err = lo_alloc_workers(lo);
	if (err)
		goto out_unlock;

	lim = queue_limits_start_update(lo_queue(lo));
	lo_fill_limits(file, flags, config->block_size, &lim);
	if (strict && (flags & LO_FLAGS_DIRECT_IO) &&
	    !lo_file_can_dio(file, lim.logical_block_size, info->lo_offset)) {
		queue_limits_cancel_update(lo_queue(lo));
		err = -EOPNOTSUPP;
		goto out_unlock;
	}
	err = queue_limits_commit_update(lo_queue(lo), &lim);
	if (err)
		goto out_unlock;

	dev_set_uevent_suppress(disk_to_dev(disk), 1);
	disk_force_media_change(disk);
	set_disk_ro(disk, flags & LO_FLAGS_READ_ONLY);

	lo->lo_offset = info->lo_offset;
	lo->lo_sizelimit = info->lo_sizelimit;
	lo_set_file_name(lo, info);
	lo->lo_flags = flags & ~LO_FLAGS_DIRECT_IO;
	lo_attach_file(lo, file);
	/* Not bound yet, so no request runs: no freeze needed. */
	lo_switch_dio(lo, want_dio);
	lo->lo_sysfs_added = !sysfs_create_group(&disk_to_dev(disk)->kobj,
						 &lo_attr_group);

	/* Pairs with the acquire in lo_walk_chain(). */
	smp_store_release(&lo->lo_state, LO_BOUND);
	/* Bound before it has a size: a reader never sees an unbound size. */
	lo_set_capacity(lo, lo_sectors(file, lo->lo_offset, lo->lo_sizelimit));
	lo_index_update(lo);
	partscan = lo->lo_flags & LO_FLAGS_PARTSCAN;
	if (partscan)
		clear_bit(GD_SUPPRESS_PART_SCAN, &disk->state);

	/* A bound device pins the module until it is unbound. */
	__module_get(THIS_MODULE);
	mutex_unlock(&lo->lo_mutex);

	/*
	 * Partitions first, the change event last: a listener that opens
	 * the disk as soon as it hears of it (udev) finds the partitions
	 * there, and none is dropped and added again under it.  The disk's
	 * events go out again first: while they are held back, the block
	 * layer holds back those of its new partitions too.
	 */
	dev_set_uevent_suppress(disk_to_dev(disk), 0);
	if (partscan)
		lo_reread_partitions(lo);
	kobject_uevent(&disk_to_dev(disk)->kobj, KOBJ_CHANGE);
	if (!(mode & BLK_OPEN_EXCL))
		bd_abort_claiming(bdev, lo);
	return 0;

out_unlock:
	mutex_unlock(&lo->lo_mutex);
out_abort_claim:
	if (!(mode & BLK_OPEN_EXCL))
		bd_abort_claiming(bdev, lo);
out_put_file:
	fput(file);
	return err;
}

/*
 * Detach the backing file of a device in LO_RUNDOWN.  Called from the last
 * close, with disk->open_mutex and lo_mutex held.  Returns
 * the file, for the caller to drop once the locks are released.
 */
static struct file *lo_unbind(struct loop_device *lo)
{
	struct gendisk *disk = lo->lo_disk;
	struct queue_limits lim;
	struct file *file;
	bool freeze;
	int err;

	lockdep_assert_held(&disk->open_mutex);

	/*
	 * This is the last close: the block layer has written back and
	 * dropped the device's page cache, everybody who could submit I/O
	 * held an open, and open_mutex keeps new openers out.  So no request
	 * is in flight and freezing the queue, which costs an RCU grace
	 * period, is only done should one be there after all.
	 */
	freeze = blk_mq_queue_inflight(lo_queue(lo));
	if (freeze)
		blk_mq_freeze_queue(lo_queue(lo));
	mutex_lock(&loop_chain_mutex);
	file = lo_detach_file(lo);
	mutex_unlock(&loop_chain_mutex);
	lo->lo_use_dio = false;
	lim = queue_limits_start_update(lo_queue(lo));
	lim.logical_block_size = SECTOR_SIZE;
	lim.physical_block_size = SECTOR_SIZE;
	lim.io_min = SECTOR_SIZE;
	queue_limits_commit_update(lo_queue(lo), &lim);
	if (freeze)
		blk_mq_unfreeze_queue(lo_queue(lo));

	invalidate_disk(disk);
	if (lo->lo_sysfs_added)
		sysfs_remove_group(&disk_to_dev(disk)->kobj, &lo_attr_group);
	lo->lo_sysfs_added = false;
	disk_force_media_change(disk);
	if (lo->lo_flags & LO_FLAGS_PARTSCAN) {
		/* The capacity is zero now: this drops every partition. */
		err = bdev_disk_changed(disk, false);
		if (err)
			pr_warn("%s: dropping partitions failed: %d\n",
				disk->disk_name, err);
	}
	if (!lo_part_shift)
		set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	set_disk_ro(disk, false);

	lo->lo_offset = 0;
	lo->lo_sizelimit = 0;
	lo->lo_flags = 0;
	memset(lo->lo_file_name, 0, LO_NAME_SIZE);
	WRITE_ONCE(lo->lo_state, LO_UNBOUND);
	lo_index_update(lo);
	kobject_uevent(&disk_to_dev(disk)->kobj, KOBJ_CHANGE);

	/* The closing opener still holds a module reference of its own. */
	module_put(THIS_MODULE);
	return file;
}

/* Unbind at the last close; callers that hold it open defer to that. */
static int lo_clr_fd(struct loop_device *lo)
{
	struct gendisk *disk = lo->lo_disk;
	int err;

	err = mutex_lock_killable(&disk->open_mutex);
	if (err)
		return err;
	mutex_lock(&lo->lo_mutex);
	if (lo->lo_state != LO_BOUND) {
		err = -ENXIO;
	} else {
		lo->lo_flags |= LO_FLAGS_AUTOCLEAR;
		/* Only the caller has it open: let nobody else in. */
		if (disk_openers(disk) == 1)
			WRITE_ONCE(lo->lo_state, LO_RUNDOWN);
	}
	mutex_unlock(&lo->lo_mutex);
	mutex_unlock(&disk->open_mutex);
	return err;
}

/*
 * Swap the backing file of a read-only device for one of the same size.
 * The new file, and the direct I/O it allows, take over under one freeze,
 * so that no request runs with the old file's setting on the new file.
 */
static int lo_change_fd(struct loop_device *lo, unsigned int fd)
{
	struct request_queue *q = lo_queue(lo);
	struct gendisk *disk = lo->lo_disk;
	struct file *file, *old = NULL;
	bool partscan, want_dio;
	int err;

	file = fget(fd);
	if (!file)
		return -EBADF;
	err = lo_check_backing(file);
	if (err)
		goto out_put_file;

	err = mutex_lock_killable(&lo->lo_mutex);
	if (err)
		goto out_put_file;
	err = -ENXIO;
	if (lo->lo_state != LO_BOUND)
		goto out_unlock;
	err = -EINVAL;
	if (!(lo->lo_flags & LO_FLAGS_READ_ONLY))
		goto out_unlock;
	if (lo_sectors(file, lo->lo_offset, lo->lo_sizelimit) !=
	    lo_sectors(lo->lo_backing_file, lo->lo_offset, lo->lo_sizelimit))
		goto out_unlock;

	want_dio = lo->lo_use_dio || (file->f_flags & O_DIRECT);
	blk_mq_freeze_queue(q);
	/* A bound device's chain: walk and swap under one hold. */
	mutex_lock(&loop_chain_mutex);
	err = lo_walk_chain(lo, file);
	if (!err) {
		old = lo_detach_file(lo);
		lo_attach_file(lo, file);
	}
	mutex_unlock(&loop_chain_mutex);
	if (!err) {
		/* A new file: nothing of its page cache was written back. */
		lo->lo_use_dio = false;
		lo_switch_dio(lo, want_dio);
	}
	blk_mq_unfreeze_queue(q);
	if (err)
		goto out_unlock;

	/* Other media: the one change event follows below. */
	dev_set_uevent_suppress(disk_to_dev(disk), 1);
	disk_force_media_change(disk);
	dev_set_uevent_suppress(disk_to_dev(disk), 0);
	partscan = lo->lo_flags & LO_FLAGS_PARTSCAN;
	mutex_unlock(&lo->lo_mutex);

	fput(old);
	if (partscan)
		lo_reread_partitions(lo);
	kobject_uevent(&disk_to_dev(disk)->kobj, KOBJ_CHANGE);
	return 0;

out_unlock:
	mutex_unlock(&lo->lo_mutex);
out_put_file:
	fput(file);
	return err;
}

/*
 * Change offset, size limit, name and flags of a bound device.  Moving the
 * data (a new offset or size limit) under a mounted file system would
 * corrupt it, so that claims the device as LOOP_SET_BLOCK_SIZE does: with
 * an exclusive opener it fails with -EBUSY, and none comes in meanwhile.
 */
static int lo_set_status(struct loop_device *lo, blk_mode_t mode,
			 struct block_device *bdev,
			 const struct loop_info64 *info)
{
	struct block_device *whole = lo->lo_disk->part0;
	bool claimed = false, partscan = false, moves;
	int flags;
	int err;

again:
	err = mutex_lock_killable(&lo->lo_mutex);
	if (err)
		goto out_abort_claim;
	err = -ENXIO;
	if (lo->lo_state != LO_BOUND)
		goto out_unlock;
	err = lo_check_info(info);
	if (err)
		goto out_unlock;

	moves = lo->lo_offset != info->lo_offset ||
		lo->lo_sizelimit != info->lo_sizelimit;
	if (moves && !claimed && !(mode & BLK_OPEN_EXCL)) {
		/* The claim may wait for another: not under lo_mutex. */
		mutex_unlock(&lo->lo_mutex);
		err = bd_prepare_to_claim(bdev, lo, NULL);
		if (err)
			return err;
		claimed = true;
		goto again;
	}
	if (moves) {
		/* Cached blocks would now sit at the wrong place. */
		sync_blockdev(whole);
		invalidate_bdev(whole);
	}

	flags = lo->lo_flags;
	flags &= ~(LOOP_SET_STATUS_CLEARABLE_FLAGS & ~info->lo_flags);
	flags |= info->lo_flags & LOOP_SET_STATUS_SETTABLE_FLAGS;
	partscan = (flags & LO_FLAGS_PARTSCAN) &&
		   !(lo->lo_flags & LO_FLAGS_PARTSCAN);

	blk_mq_freeze_queue(lo_queue(lo));
	lo->lo_offset = info->lo_offset;
	lo->lo_sizelimit = info->lo_sizelimit;
	lo_set_file_name(lo, info);
	lo->lo_flags = flags;
	if (moves)
		lo_set_capacity(lo, lo_sectors(lo->lo_backing_file,
					       lo->lo_offset, lo->lo_sizelimit));
	/* A new offset may break the alignment direct I/O needs. */
	lo_switch_dio(lo, lo->lo_use_dio);
	blk_mq_unfreeze_queue(lo_queue(lo));

	if (partscan)
		clear_bit(GD_SUPPRESS_PART_SCAN, &lo->lo_disk->state);
out_unlock:
	mutex_unlock(&lo->lo_mutex);
out_abort_claim:
	if (claimed)
		bd_abort_claiming(bdev, lo);
	if (partscan)
		lo_reread_partitions(lo);
	return err;
}

/*
 * What LOOP_GET_STATUS64 reports.  The backing file is identified as
 * stat() sees it (losetup -j compares st_dev and st_ino), which may sleep
 * in the file system for long, so that is asked outside lo_mutex, on a
 * reference of our own.
 */
static int lo_get_status(struct loop_device *lo, struct loop_info64 *info)
{
	struct file *file = NULL;
	struct kstat stat;
	int err;

	err = mutex_lock_killable(&lo->lo_mutex);
	if (err)
		return err;
	if (lo->lo_state == LO_BOUND) {
		*info = (struct loop_info64) {
			.lo_number	= lo->lo_number,
			.lo_offset	= lo->lo_offset,
			.lo_sizelimit	= lo->lo_sizelimit,
			.lo_flags	= lo->lo_flags,
		};
		memcpy(info->lo_file_name, lo->lo_file_name, LO_NAME_SIZE);
		file = get_file(lo->lo_backing_file);
	}
	mutex_unlock(&lo->lo_mutex);
	if (!file)
		return -ENXIO;

	err = vfs_getattr(&file->f_path, &stat, STATX_INO,
			  AT_STATX_SYNC_AS_STAT);
	if (!err) {
		info->lo_device = huge_encode_dev(stat.dev);
		info->lo_rdevice = huge_encode_dev(stat.rdev);
		info->lo_inode = stat.ino;
	}
	fput(file);
	return err;
}

/*
 * The old struct loop_info, native and compat, has the same field names;
 * these convert either to and from loop_info64.  Going down, the values
 * that do not fit make the call fail rather than lie.
 */
#define lo_info_from_old(info64, old)					\
do {									\
	struct loop_info64 *__i64 = (info64);				\
	typeof(old) __old = (old);					\
									\
	memset(__i64, 0, sizeof(*__i64));				\
	__i64->lo_number = __old->lo_number;				\
	__i64->lo_device = __old->lo_device;				\
	__i64->lo_inode = __old->lo_inode;				\
	__i64->lo_rdevice = __old->lo_rdevice;				\
	__i64->lo_offset = __old->lo_offset;				\
	__i64->lo_flags = __old->lo_flags;				\
	memcpy(__i64->lo_file_name, __old->lo_name, LO_NAME_SIZE);	\
} while (0)

#define lo_info_to_old(old, info64)					\
({									\
	const struct loop_info64 *__i64 = (info64);			\
	typeof(old) __old = (old);					\
									\
	memset(__old, 0, sizeof(*__old));				\
	__old->lo_number = __i64->lo_number;				\
	__old->lo_device = __i64->lo_device;				\
	__old->lo_inode = __i64->lo_inode;				\
	__old->lo_rdevice = __i64->lo_rdevice;				\
	__old->lo_offset = __i64->lo_offset;				\
	__old->lo_flags = __i64->lo_flags;				\
	memcpy(__old->lo_name, __i64->lo_file_name, LO_NAME_SIZE);	\
	(__old->lo_device != __i64->lo_device ||			\
	 __old->lo_rdevice != __i64->lo_rdevice ||			\
	 __old->lo_inode != __i64->lo_inode ||				\
	 __old->lo_offset != __i64->lo_offset) ? -EOVERFLOW : 0;	\
})

static int lo_set_status_old(struct loop_device *lo, blk_mode_t mode,
			     struct block_device *bdev,
			     const struct loop_info __user *arg)
{
	struct loop_info old;
	struct loop_info64 info;

	if (copy_from_user(&old, arg, sizeof(old)))
		return -EFAULT;
	lo_info_from_old(&info, &old);
	return lo_set_status(lo, mode, bdev, &info);
}

static int lo_get_status_old(struct loop_device *lo,
			     struct loop_info __user *arg)
{
	struct loop_info old;
	struct loop_info64 info;
	int err;

	if (!arg)
		return -EINVAL;
	err = lo_get_status(lo, &info);
	if (!err)
		err = lo_info_to_old(&old, &info);
	if (!err && copy_to_user(arg, &old, sizeof(old)))
		err = -EFAULT;
	return err;
}

static int lo_set_status64(struct loop_device *lo, blk_mode_t mode,
			   struct block_device *bdev,
			   const struct loop_info64 __user *arg)
{
	struct loop_info64 info;

	if (copy_from_user(&info, arg, sizeof(info)))
		return -EFAULT;
	return lo_set_status(lo, mode, bdev, &info);
}

static int lo_get_status64(struct loop_device *lo,
			   struct loop_info64 __user *arg)
{
	struct loop_info64 info;
	int err;

	if (!arg)
		return -EINVAL;
	err = lo_get_status(lo, &info);
	if (!err && copy_to_user(arg, &info, sizeof(info)))
		err = -EFAULT;
	return err;
}

static int lo_set_capacity_ioctl(struct loop_device *lo)
{
	int err;

	err = mutex_lock_killable(&lo->lo_mutex);
	if (err)
		return err;
	if (lo->lo_state == LO_BOUND)
		lo_set_capacity(lo, lo_sectors(lo->lo_backing_file,
					       lo->lo_offset, lo->lo_sizelimit));
	else
		err = -ENXIO;
	mutex_unlock(&lo->lo_mutex);
	return err;
}

static int lo_set_dio(struct loop_device *lo, unsigned long arg)
{
	int err;

	err = mutex_lock_killable(&lo->lo_mutex);
	if (err)
		return err;
	if (lo->lo_state != LO_BOUND) {
		err = -ENXIO;
	} else {
		lo_update_dio(lo, arg);
		if (lo->lo_use_dio != !!arg)
			err = -EINVAL;
	}
	mutex_unlock(&lo->lo_mutex);
	return err;
}

static int lo_set_block_size(struct loop_device *lo, blk_mode_t mode,
			     struct block_device *bdev, unsigned long bsize)
{
	struct request_queue *q = lo_queue(lo);
	struct queue_limits lim;
	int err;

	if (!(mode & BLK_OPEN_EXCL)) {
		err = bd_prepare_to_claim(bdev, lo, NULL);
		if (err)
			return err;
	}
	err = mutex_lock_killable(&lo->lo_mutex);
	if (err)
		goto out_abort_claim;

	if (lo->lo_state != LO_BOUND) {
		err = -ENXIO;
		goto out_unlock;
	}
	err = blk_validate_block_size(bsize);
	if (err || queue_logical_block_size(q) == bsize)
		goto out_unlock;

	sync_blockdev(lo->lo_disk->part0);
	invalidate_bdev(lo->lo_disk->part0);
	blk_mq_freeze_queue(q);
	lim = queue_limits_start_update(q);
	lo_fill_limits(lo->lo_backing_file, lo->lo_flags, bsize, &lim);
	err = queue_limits_commit_update(q, &lim);
	lo_switch_dio(lo, lo->lo_use_dio);
	blk_mq_unfreeze_queue(q);

out_unlock:
	mutex_unlock(&lo->lo_mutex);
out_abort_claim:
	if (!(mode & BLK_OPEN_EXCL))
		bd_abort_claiming(bdev, lo);
	return err;
}

static int lo_configure_user(struct loop_device *lo, blk_mode_t mode,
			     struct block_device *bdev,
			     const struct loop_config __user *arg)
{
	struct loop_config config;

	if (copy_from_user(&config, arg, sizeof(config)))
		return -EFAULT;
	return lo_configure(lo, mode, bdev, &config);
}

/* The legacy bind: a file descriptor and defaults for everything else. */
static int lo_set_fd(struct loop_device *lo, blk_mode_t mode,
		     struct block_device *bdev, unsigned long fd)
{
	struct loop_config config = { .fd = fd };

	return lo_configure(lo, mode, bdev, &config);
}

/*
 * Who may run @cmd.  Binding and unbinding need an opener, as stock loop
 * has it; changing a bound device needs write mode or the administrator.
 */
static bool lo_ioctl_permitted(blk_mode_t mode, unsigned int cmd)
{
	switch (cmd) {
	case LOOP_SET_STATUS:
	case LOOP_SET_STATUS64:
	case LOOP_SET_CAPACITY:
	case LOOP_SET_DIRECT_IO:
	case LOOP_SET_BLOCK_SIZE:
		return (mode & BLK_OPEN_WRITE) || capable(CAP_SYS_ADMIN);
	default:
		return true;
	}
}

/* The per-device ioctls: the permission check once, then one switch. */
static int lo_ioctl(struct block_device *bdev, blk_mode_t mode,
		    unsigned int cmd, unsigned long arg)
{
	struct loop_device *lo = bdev->bd_disk->private_data;
	void __user *argp = (void __user *)arg;

	if (!lo_ioctl_permitted(mode, cmd))
		return -EPERM;

	switch (cmd) {
	case LOOP_SET_FD:
		return lo_set_fd(lo, mode, bdev, arg);
	case LOOP_CONFIGURE:
		return lo_configure_user(lo, mode, bdev, argp);
	case LOOP_CHANGE_FD:
		return lo_change_fd(lo, arg);
	case LOOP_CLR_FD:
		return lo_clr_fd(lo);
	case LOOP_GET_STATUS:
		return lo_get_status_old(lo, argp);
	case LOOP_GET_STATUS64:
		return lo_get_status64(lo, argp);
	case LOOP_SET_STATUS:
		return lo_set_status_old(lo, mode, bdev, argp);
	case LOOP_SET_STATUS64:
		return lo_set_status64(lo, mode, bdev, argp);
	case LOOP_SET_CAPACITY:
		return lo_set_capacity_ioctl(lo);
	case LOOP_SET_DIRECT_IO:
		return lo_set_dio(lo, arg);
	case LOOP_SET_BLOCK_SIZE:
		return lo_set_block_size(lo, mode, bdev, arg);
	default:
		return -EINVAL;
	}
}

#ifdef CONFIG_COMPAT
/* struct loop_info as a 32-bit task lays it out. */
struct lo_compat_info {
	compat_int_t	lo_number;
	compat_dev_t	lo_device;
	compat_ulong_t	lo_inode;
	compat_dev_t	lo_rdevice;
	compat_int_t	lo_offset;
	compat_int_t	lo_encrypt_type;
	compat_int_t	lo_encrypt_key_size;
	compat_int_t	lo_flags;
	char		lo_name[LO_NAME_SIZE];
	unsigned char	lo_encrypt_key[LO_KEY_SIZE];
	compat_ulong_t	lo_init[2];
	char		reserved[4];
};

static int lo_set_status_compat(struct loop_device *lo, blk_mode_t mode,
				struct block_device *bdev,
				const struct lo_compat_info __user *arg)
{
	struct lo_compat_info old;
	struct loop_info64 info;

	if (copy_from_user(&old, arg, sizeof(old)))
		return -EFAULT;
	lo_info_from_old(&info, &old);
	return lo_set_status(lo, mode, bdev, &info);
}

static int lo_get_status_compat(struct loop_device *lo,
				struct lo_compat_info __user *arg)
{
	struct lo_compat_info old;
	struct loop_info64 info;
	int err;

	if (!arg)
		return -EINVAL;
	err = lo_get_status(lo, &info);
	if (!err)
		err = lo_info_to_old(&old, &info);
	if (!err && copy_to_user(arg, &old, sizeof(old)))
		err = -EFAULT;
	return err;
}

static int lo_compat_ioctl(struct block_device *bdev, blk_mode_t mode,
			   unsigned int cmd, unsigned long arg)
{
	struct loop_device *lo = bdev->bd_disk->private_data;

	if (!lo_ioctl_permitted(mode, cmd))
		return -EPERM;
	switch (cmd) {
	case LOOP_SET_STATUS:
		return lo_set_status_compat(lo, mode, bdev, compat_ptr(arg));
	case LOOP_GET_STATUS:
		return lo_get_status_compat(lo, compat_ptr(arg));
	case LOOP_SET_STATUS64:
	case LOOP_GET_STATUS64:
	case LOOP_CONFIGURE:
		/* Same layout for 32 and 64 bits; only the pointer differs. */
		return lo_ioctl(bdev, mode, cmd,
				(unsigned long)compat_ptr(arg));
	case LOOP_SET_FD:
	case LOOP_CHANGE_FD:
	case LOOP_CLR_FD:
	case LOOP_SET_CAPACITY:
	case LOOP_SET_DIRECT_IO:
	case LOOP_SET_BLOCK_SIZE:
		return lo_ioctl(bdev, mode, cmd, arg);
	default:
		return -ENOIOCTLCMD;
	}
}
#endif

/*
 * Opening and closing a device.  The last close unbinds a device with
 * LO_FLAGS_AUTOCLEAR or a deferred LOOP_CLR_FD, and hands a device that
 * LOOP_CTL_CONFIGURE gave up to the reaper.
 */

static int lo_open(struct gendisk *disk, blk_mode_t mode)
{
	struct loop_device *lo = disk->private_data;
	enum lo_state state = READ_ONCE(lo->lo_state);

	/* Both states are only entered under open_mutex, which we hold. */
	if (state == LO_RUNDOWN || state == LO_DELETING)
		return -ENXIO;
	return 0;
}

static void lo_release(struct gendisk *disk)
{
	struct loop_device *lo = disk->private_data;
	struct file *file = NULL;
	enum lo_state state;

	if (disk_openers(disk))
		return;

	/*
	 * Nobody has the device open, so nobody can bind it or change its
	 * flags under us: a lockless look is enough to skip the common case.
	 */
	state = READ_ONCE(lo->lo_state);
	if (state == LO_UNBOUND)
		return;
	if (state == LO_BOUND && !(READ_ONCE(lo->lo_flags) & LO_FLAGS_AUTOCLEAR))
		return;
	if (state == LO_DELETING) {
		/* lo_reap is set under open_mutex, which we hold. */
		if (lo->lo_reap)
			queue_work(loop_reap_wq, &lo->lo_reap_work);
		return;
	}

	mutex_lock(&lo->lo_mutex);
	if (lo->lo_state == LO_BOUND && (lo->lo_flags & LO_FLAGS_AUTOCLEAR))
		WRITE_ONCE(lo->lo_state, LO_RUNDOWN);
	if (lo->lo_state == LO_RUNDOWN)
		file = lo_unbind(lo);
	mutex_unlock(&lo->lo_mutex);

	if (file)
		fput(file);
}

static void lo_free_disk(struct gendisk *disk)
{
	struct loop_device *lo = disk->private_data;

	mutex_destroy(&lo->lo_mutex);
	kfree(lo);
}

static const struct block_device_operations lo_fops = {
	.owner		= THIS_MODULE,
	.open		= lo_open,
	.release	= lo_release,
	.ioctl		= lo_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl	= lo_compat_ioctl,
#endif
	.free_disk	= lo_free_disk,
};

/*
 * sysfs: /sys/block/loopN/loop/, present while the device is bound.  The
 * readers do not take lo_mutex: it is held while the group is removed.
 */

static struct loop_device *lo_from_dev(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

static ssize_t lo_backing_file_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct loop_device *lo = lo_from_dev(dev);
	struct file *file;
	ssize_t len;
	char *path;

	spin_lock_irq(&lo->lo_lock);
	file = lo->lo_backing_file;
	if (file)
		get_file(file);
	spin_unlock_irq(&lo->lo_lock);
	if (!file)
		return -ENXIO;

	path = file_path(file, buf, PAGE_SIZE - 1);
	fput(file);
	if (IS_ERR(path))
		return PTR_ERR(path);
	len = strlen(path);
	memmove(buf, path, len);
	buf[len++] = '\n';
	buf[len] = '\0';
	return len;
}

static ssize_t lo_offset_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (u64)READ_ONCE(lo_from_dev(dev)->lo_offset));
}

static ssize_t lo_sizelimit_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (u64)READ_ONCE(lo_from_dev(dev)->lo_sizelimit));
}

/* The boolean attributes, one LO_FLAGS_* bit each. */
struct lo_flag_attr {
	struct device_attribute	attr;
	int			flag;
};

static ssize_t lo_flag_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	int flag = container_of(attr, struct lo_flag_attr, attr)->flag;

	return sysfs_emit(buf, "%d\n",
			  !!(READ_ONCE(lo_from_dev(dev)->lo_flags) & flag));
}

#define LO_FLAG_ATTR(_name, _flag)					\
	static struct lo_flag_attr lo_attr_##_name = {			\
		.attr = __ATTR(_name, 0444, lo_flag_show, NULL),	\
		.flag = _flag,						\
	}

static struct device_attribute lo_attr_backing_file =
	__ATTR(backing_file, 0444, lo_backing_file_show, NULL);
static struct device_attribute lo_attr_offset =
	__ATTR(offset, 0444, lo_offset_show, NULL);
static struct device_attribute lo_attr_sizelimit =
	__ATTR(sizelimit, 0444, lo_sizelimit_show, NULL);
LO_FLAG_ATTR(autoclear, LO_FLAGS_AUTOCLEAR);
LO_FLAG_ATTR(partscan, LO_FLAGS_PARTSCAN);
LO_FLAG_ATTR(dio, LO_FLAGS_DIRECT_IO);

static struct attribute *lo_attrs[] = {
	&lo_attr_backing_file.attr,
	&lo_attr_offset.attr,
	&lo_attr_sizelimit.attr,
	&lo_attr_autoclear.attr.attr,
	&lo_attr_partscan.attr.attr,
	&lo_attr_dio.attr.attr,
	NULL,
};

static const struct attribute_group lo_attr_group = {
	.name	= "loop",
	.attrs	= lo_attrs,
};

/*
 * Adding and removing devices.
 */

static void lo_reap_workfn(struct work_struct *work);

/*
 * Add device @nr, or the lowest free number if @nr is -1.  Returns the number.
 * With @hidden, the device is handed back there unpublished: nobody else
 * can find it through the index until the caller publishes it.
 */
static int lo_add(int nr, struct loop_device **hidden)
{
	struct queue_limits lim = {
		.max_hw_sectors		= LO_MAX_HW_SECTORS,
	};
	struct loop_device *lo;
	struct gendisk *disk;
	int err;

	lo = kzalloc(sizeof(*lo), GFP_KERNEL);
	if (!lo)
		return -ENOMEM;
	mutex_init(&lo->lo_mutex);
	spin_lock_init(&lo->lo_lock);
	INIT_WORK(&lo->lo_reap_work, lo_reap_workfn);
	lo->lo_state = LO_UNBOUND;
	lo->lo_listing = LO_LIST_ADDING;

	/* Reserve the number: nobody acts on an LO_LIST_ADDING device. */
	err = mutex_lock_killable(&loop_index_mutex);
	if (err)
		goto out_free_dev;
	if (nr < 0) {
		err = idr_alloc(&loop_index_idr, lo, 0, lo_max_devices(),
				GFP_KERNEL);
	} else {
		err = idr_alloc(&loop_index_idr, lo, nr, nr + 1, GFP_KERNEL);
		if (err == -ENOSPC)
			err = -EEXIST;
	}
	if (err >= 0)
		lo->lo_number = err;
	mutex_unlock(&loop_index_mutex);
	if (err < 0)
		goto out_free_dev;

	lo->lo_tag_set.ops = &lo_mq_ops;
	lo->lo_tag_set.nr_hw_queues = 1;
	lo->lo_tag_set.queue_depth = lo_hw_queue_depth;
	lo->lo_tag_set.numa_node = NUMA_NO_NODE;
	lo->lo_tag_set.cmd_size = sizeof(struct loop_cmd);
	lo->lo_tag_set.flags = BLK_MQ_F_SHOULD_MERGE | BLK_MQ_F_STACKING |
			       BLK_MQ_F_NO_SCHED_BY_DEFAULT;
	lo->lo_tag_set.driver_data = lo;
	err = blk_mq_alloc_tag_set(&lo->lo_tag_set);
	if (err)
		goto out_remove_id;

	disk = blk_mq_alloc_disk(&lo->lo_tag_set, &lim, lo);
	if (IS_ERR(disk)) {
		err = PTR_ERR(disk);
		goto out_free_tags;
	}
	lo->lo_disk = disk;
	disk->major = LOOP_MAJOR;
	disk->first_minor = lo->lo_number << lo_part_shift;
	disk->minors = 1 << lo_part_shift;
	disk->fops = &lo_fops;
	disk->private_data = lo;
	disk->events = DISK_EVENT_MEDIA_CHANGE;
	disk->event_flags = DISK_EVENT_FLAG_UEVENT;
	snprintf(disk->disk_name, DISK_NAME_LEN, "loop%d", lo->lo_number);
	/* Without max_part, partitions are scanned only on request. */
	if (!lo_part_shift)
		set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);

	err = add_disk(disk);
	if (err)
		goto out_put_disk;
	nr = lo->lo_number;
	if (hidden) {
		mutex_lock(&loop_index_mutex);
		lo_set_listing(lo, LO_LIST_CONFIGURING);
		mutex_unlock(&loop_index_mutex);
		*hidden = lo;
	} else {
		lo_publish(lo);
	}
	return nr;

out_put_disk:
	put_disk(disk);
out_free_tags:
	blk_mq_free_tag_set(&lo->lo_tag_set);
out_remove_id:
	mutex_lock(&loop_index_mutex);
	idr_remove(&loop_index_idr, lo->lo_number);
	mutex_unlock(&loop_index_mutex);
out_free_dev:
	mutex_destroy(&lo->lo_mutex);
	kfree(lo);
	return err;
}

/* Tear down a device nobody can find or open any more. */
static void lo_remove(struct loop_device *lo)
{
	int nr = lo->lo_number;

	del_gendisk(lo->lo_disk);
	blk_mq_free_tag_set(&lo->lo_tag_set);
	if (lo->lo_wq)
		destroy_workqueue(lo->lo_wq);
	free_percpu(lo->lo_lists);
	mutex_lock(&loop_index_mutex);
	idr_remove(&loop_index_idr, nr);
	mutex_unlock(&loop_index_mutex);
	put_disk(lo->lo_disk);
}

/* A device LOOP_CTL_CONFIGURE gave up, after its last opener left. */
static void lo_reap_workfn(struct work_struct *work)
{
	/* Frees lo, and the work item in it, which the workqueue allows. */
	lo_remove(container_of(work, struct loop_device, lo_reap_work));
}

/* Module exit and failed init: no device is bound or open any more. */
static void lo_remove_all(void)
{
	struct loop_device *lo;
	int nr;

	idr_for_each_entry(&loop_index_idr, lo, nr)
		lo_remove(lo);
	idr_destroy(&loop_index_idr);
	xa_destroy(&loop_free_xa);
}

#ifdef CONFIG_BLOCK_LEGACY_AUTOLOAD
/* Opening a /dev/loopN node with no device behind it creates the device. */
static void lo_probe(dev_t dev)
{
	int nr = MINOR(dev) >> lo_part_shift;

	if (lo_max_loop_given && lo_max_loop && nr >= lo_max_loop)
		return;
	lo_add(nr, NULL);
}
#else
#define lo_probe NULL
#endif

/*
 * /dev/loop-control
 */

/*
 * Decode the device number argument of ADD and REMOVE.  A 64-bit -1, and a
 * 32-bit -1 as 32-bit tasks and int-typed varargs deliver it, mean "any";
 * every other number must be a device number, never truncated into one.
 */
static int loop_ctl_number(unsigned long arg, int *nr)
{
	if (arg == ULONG_MAX || arg == U32_MAX) {
		*nr = -1;
		return 0;
	}
	if (arg >= lo_max_devices())
		return -EINVAL;
	*nr = arg;
	return 0;
}

static int loop_ctl_add(unsigned long arg)
{
	int nr, err;

	err = loop_ctl_number(arg, &nr);
	if (err)
		return err;
	return lo_add(nr, NULL);
}

/*
 * Remove a device that is LO_LIST_REMOVING if it is unbound and closed;
 * publish it again and return -EBUSY otherwise.
 */
static int lo_delete_hidden(struct loop_device *lo)
{
	struct gendisk *disk = lo->lo_disk;

	/* Under open_mutex, no opener can slip in between check and claim. */
	mutex_lock(&disk->open_mutex);
	/* Binding needs an opener, so this cannot change under us. */
	if (READ_ONCE(lo->lo_state) != LO_UNBOUND || disk_openers(disk)) {
		mutex_unlock(&disk->open_mutex);
		lo_publish(lo);
		return -EBUSY;
	}
	mutex_lock(&lo->lo_mutex);
	WRITE_ONCE(lo->lo_state, LO_DELETING);
	mutex_unlock(&lo->lo_mutex);
	mutex_unlock(&disk->open_mutex);

	lo_remove(lo);
	return 0;
}

/*
 * Take a published device out of sight for REMOVE.  A device held by
 * LOOP_CTL_CONFIGURE is busy; one being added or removed is not there yet,
 * or no longer.
 */
static int lo_claim_for_remove(struct loop_device *lo)
{
	lockdep_assert_held(&loop_index_mutex);
	switch (lo ? lo->lo_listing : LO_LIST_REMOVING) {
	case LO_LIST_PUBLISHED:
		lo_set_listing(lo, LO_LIST_REMOVING);
		return 0;
	case LO_LIST_CONFIGURING:
		return -EBUSY;
	default:
		return -ENODEV;
	}
}

static int loop_ctl_remove(unsigned long arg)
{
	struct loop_device *lo;
	int nr, err;

	err = loop_ctl_number(arg, &nr);
	if (err)
		return err;
	if (nr < 0)
		return -EINVAL;

	err = mutex_lock_killable(&loop_index_mutex);
	if (err)
		return err;
	lo = idr_find(&loop_index_idr, nr);
	err = lo_claim_for_remove(lo);
	mutex_unlock(&loop_index_mutex);
	if (err)
		return err;

	err = lo_delete_hidden(lo);
	return err ? err : nr;
}

static int loop_ctl_get_free(void)
{
	unsigned long nr;
	int err;

	err = mutex_lock_killable(&loop_index_mutex);
	if (err)
		return err;
	nr = loop_free_lowest;
	mutex_unlock(&loop_index_mutex);
	if (nr != ULONG_MAX)
		return nr;
	return lo_add(-1, NULL);
}

/*
 * Take the lowest unbound device out of sight, or add a new one unseen.
 * *@created says which, for lo_give_back().
 */
static struct loop_device *lo_take_free(bool *created)
{
	struct loop_device *lo = NULL;
	unsigned long nr;
	int err;

	err = mutex_lock_killable(&loop_index_mutex);
	if (err)
		return ERR_PTR(err);
	nr = loop_free_lowest;
	if (nr != ULONG_MAX) {
		lo = xa_load(&loop_free_xa, nr);
		lo_set_listing(lo, LO_LIST_CONFIGURING);
	}
	mutex_unlock(&loop_index_mutex);

	*created = !lo;
	if (lo)
		return lo;
	err = lo_add(-1, &lo);
	return err < 0 ? ERR_PTR(err) : lo;
}

/*
 * Undo lo_take_free().  A device we added goes away again.  If somebody
 * opened it meanwhile (udev, blkid), it goes at that opener's last close
 * (lo_release()), and new opens fail meanwhile; if somebody bound it, it
 * is theirs, and published.
 */
static void lo_give_back(struct loop_device *lo, bool created)
{
	struct gendisk *disk = lo->lo_disk;
	bool reap;

	if (!created) {
		lo_publish(lo);
		return;
	}
	mutex_lock(&loop_index_mutex);
	lo_set_listing(lo, LO_LIST_REMOVING);
	mutex_unlock(&loop_index_mutex);

	mutex_lock(&disk->open_mutex);
	if (READ_ONCE(lo->lo_state) != LO_UNBOUND) {
		mutex_unlock(&disk->open_mutex);
		lo_publish(lo);
		return;
	}
	mutex_lock(&lo->lo_mutex);
	WRITE_ONCE(lo->lo_state, LO_DELETING);
	mutex_unlock(&lo->lo_mutex);
	reap = disk_openers(disk);
	lo->lo_reap = reap;
	mutex_unlock(&disk->open_mutex);

	if (!reap)
		lo_remove(lo);
}

/*
 * LOOP_CTL_CONFIGURE: bind a free device and return an open fd for it, so
 * that no other process can take the device between finding and binding
 * it.  The fd is opened before binding: with LO_FLAGS_AUTOCLEAR, the device
 * is unbound when the last descriptor closes, also if the caller dies.
 */
static int loop_ctl_configure(const struct loop_config __user *arg)
{
	blk_mode_t mode = BLK_OPEN_READ | BLK_OPEN_WRITE;
	struct loop_config config;
	struct loop_device *lo;
	struct file *bdev_file;
	int tries = LO_CONFIGURE_TRIES;
	bool created;
	int fd, err;

	/*
	 * The descriptor it hands out is one the caller may not be allowed
	 * to open: /dev/loopN's mode, security label or Landlock rules are
	 * never asked.  So this is for the administrator only.
	 */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&config, arg, sizeof(config)))
		return -EFAULT;
	if (config.info.lo_flags & LO_FLAGS_READ_ONLY)
		mode = BLK_OPEN_READ;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;

	do {
		lo = lo_take_free(&created);
		if (IS_ERR(lo)) {
			err = PTR_ERR(lo);
			goto out_put_fd;
		}
		bdev_file = bdev_file_open_by_dev(disk_devt(lo->lo_disk), mode,
						  NULL, NULL);
		if (IS_ERR(bdev_file)) {
			err = PTR_ERR(bdev_file);
			lo_give_back(lo, created);
			goto out_put_fd;
		}
		err = lo_configure(lo, mode, file_bdev(bdev_file), &config);
		if (err) {
			/* Close now, so that the device can be removed. */
			__fput_sync(bdev_file);
			lo_give_back(lo, created);
		}
		/* -EBUSY: someone who knew its number bound it first. */
	} while (err == -EBUSY && --tries);
	if (err)
		goto out_put_fd;

	lo_publish(lo);
	fd_install(fd, bdev_file);
	return fd;

out_put_fd:
	put_unused_fd(fd);
	return err;
}

static long loop_ctl_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	switch (cmd) {
	case LOOP_CTL_ADD:
		return loop_ctl_add(arg);
	case LOOP_CTL_REMOVE:
		return loop_ctl_remove(arg);
	case LOOP_CTL_GET_FREE:
		return loop_ctl_get_free();
	case LOOP_CTL_CONFIGURE:
		return loop_ctl_configure((const void __user *)arg);
	default:
		/* The interface has answered this since 2011; keep it. */
		return -ENOSYS;
	}
}

#ifdef CONFIG_COMPAT
/* Device numbers pass unchanged (loop_ctl_number() knows a 32-bit -1). */
static long loop_ctl_compat_ioctl(struct file *file, unsigned int cmd,
				  unsigned long arg)
{
	if (cmd == LOOP_CTL_CONFIGURE)
		arg = (unsigned long)compat_ptr(arg);
	return loop_ctl_ioctl(file, cmd, arg);
}
#endif

static const struct file_operations loop_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= loop_ctl_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl	= loop_ctl_compat_ioctl,
#endif
	.llseek		= noop_llseek,
};

static struct miscdevice loop_misc = {
	.minor		= LOOP_CTRL_MINOR,
	.name		= "loop-control",
	.fops		= &loop_ctl_fops,
};

/*
 * Module parameters, init and exit.
 */

static int lo_set_max_loop(const char *val, const struct kernel_param *kp)
{
	int err = param_set_int(val, kp);

	if (!err)
		lo_max_loop_given = true;
	return err;
}

static const struct kernel_param_ops lo_max_loop_ops = {
	.set	= lo_set_max_loop,
	.get	= param_get_int,
};

module_param_cb(max_loop, &lo_max_loop_ops, &lo_max_loop, 0444);
MODULE_PARM_DESC(max_loop,
		 "Devices created at load (default " __stringify(LO_MIN_COUNT)
		 "); if given, also the limit for creation on open of /dev/loopN");

module_param_named(max_part, lo_max_part, int, 0444);
MODULE_PARM_DESC(max_part,
		 "Partitions per device, rounded up to 2^n - 1 (default 0: scan on request only)");

static int lo_set_queue_depth(const char *val, const struct kernel_param *kp)
{
	int depth, err;

	err = kstrtoint(val, 0, &depth);
	if (err)
		return err;
	if (depth < 1)
		return -EINVAL;
	lo_hw_queue_depth = depth;
	return 0;
}

static const struct kernel_param_ops lo_queue_depth_ops = {
	.set	= lo_set_queue_depth,
	.get	= param_get_int,
};

module_param_cb(hw_queue_depth, &lo_queue_depth_ops, &lo_hw_queue_depth, 0444);
MODULE_PARM_DESC(hw_queue_depth,
		 "Requests in flight per device (default "
		 __stringify(LO_DEFAULT_QUEUE_DEPTH) ")");

static int __init loop_init(void)
{
	int err, i;

	if (lo_max_loop < 0 || lo_max_part < 0) {
		pr_err("max_loop and max_part must not be negative\n");
		return -EINVAL;
	}
	if (lo_max_part) {
		lo_part_shift = fls(lo_max_part);
		/* Minor 0 of each device is the whole disk. */
		lo_max_part = (1 << lo_part_shift) - 1;
	}
	if ((1U << lo_part_shift) > DISK_MAX_PARTS) {
		pr_err("max_part: at most %d partitions per device\n",
		       DISK_MAX_PARTS - 1);
		return -EINVAL;
	}
	if (lo_max_loop > lo_max_devices()) {
		pr_err("max_loop: at most %u devices with max_part=%d\n",
		       lo_max_devices(), lo_max_part);
		return -EINVAL;
	}

	loop_reap_wq = alloc_workqueue("loop_reap", 0, 0);
	if (!loop_reap_wq)
		return -ENOMEM;
	err = misc_register(&loop_misc);
	if (err)
		goto out_destroy_reap_wq;
	err = __register_blkdev(LOOP_MAJOR, "loop", lo_probe);
	if (err)
		goto out_deregister_misc;

	for (i = 0; i < lo_max_loop; i++) {
		err = lo_add(i, NULL);
		if (err < 0)
			goto out_remove_devices;
	}
	pr_info("module loaded\n");
	return 0;

out_remove_devices:
	unregister_blkdev(LOOP_MAJOR, "loop");
	lo_remove_all();
out_deregister_misc:
	misc_deregister(&loop_misc);
out_destroy_reap_wq:
	destroy_workqueue(loop_reap_wq);
	return err;
}

static void __exit loop_exit(void)
{
	unregister_blkdev(LOOP_MAJOR, "loop");
	misc_deregister(&loop_misc);
	/* Let the devices waiting to be reaped go first. */
	destroy_workqueue(loop_reap_wq);
	lo_remove_all();
}

module_init(loop_init);
module_exit(loop_exit);

#ifndef MODULE
static int __init lo_max_loop_setup(char *str)
{
	if (kstrtoint(str, 0, &lo_max_loop))
		return 0;
	lo_max_loop_given = true;
	return 1;
}
__setup("max_loop=", lo_max_loop_setup);
#endif

MODULE_DESCRIPTION("Loop block devices and /dev/loop-control");
MODULE_LICENSE("GPL");
MODULE_ALIAS_BLOCKDEV_MAJOR(LOOP_MAJOR);
MODULE_ALIAS_MISCDEV(LOOP_CTRL_MINOR);
MODULE_ALIAS("devname:loop-control");
