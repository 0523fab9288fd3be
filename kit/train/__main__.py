from kit.train.main import main

if __name__ == "__main__":  # DataLoader workers are spawned: they import this module too
    main()
