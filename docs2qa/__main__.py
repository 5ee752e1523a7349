from docs2qa.cli import main

main()
